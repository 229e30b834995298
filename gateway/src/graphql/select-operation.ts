// Which operation of a document a request runs, by the GraphQL spec's rule (GetOperation): the one
// named `operationName`, or the only one. Every transport asks here first, so a wrong or missing
// operationName is the same 400 GRAPHQL_VALIDATION_FAILED with the same words over HTTP,
// graphql-ws, SSE and multipart. Before, HTTP let @apollo/gateway's planner throw it: a 500 INTERNAL.
import { VotemeshError } from '@votemesh/common/errors';
import { Kind, parse, type DocumentNode, type OperationDefinitionNode, type OperationTypeNode } from 'graphql';

export function selectOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | VotemeshError {
  const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  const names = operations.map((operation) => operation.name?.value ?? '(anonymous)').join(', ');
  if (operationName !== undefined && operationName !== null && operationName !== '') {
    const named = operations.find((operation) => operation.name?.value === operationName);
    if (named) return named;
    return refusal(`The document has no operation named "${operationName}" (it has ${operations.length === 0 ? 'none' : names}); fix operationName`);
  }
  const [only, ...others] = operations;
  if (only && others.length === 0) return only;
  if (!only) return refusal('The document has no operation to run');
  return refusal(`The document has ${operations.length} operations (${names}); send operationName to say which one to run`);
}

function refusal(message: string): VotemeshError {
  return new VotemeshError('GRAPHQL_VALIDATION_FAILED', message);
}

/**
 * The type of the operation a request would run, or undefined when its document does not parse or
 * selects no operation (the transport that answers it then says why).
 */
export function operationTypeOf(query: string, operationName: string | null | undefined): OperationTypeNode | undefined {
  let document: DocumentNode;
  try {
    document = parse(query, { noLocation: true });
  } catch {
    return undefined;
  }
  const selected = selectOperation(document, operationName);
  return selected instanceof VotemeshError ? undefined : selected.operation;
}

/**
 * Whether a request's `query` and `operationName` (as they came in: anything) select a subscription.
 * Only a document that names `subscription` can hold one: the common case needs no parse.
 */
export function isSubscriptionRequest(query: unknown, operationName: unknown): boolean {
  if (typeof query !== 'string' || !query.includes('subscription')) return false;
  return operationTypeOf(query, typeof operationName === 'string' ? operationName : undefined) === 'subscription';
}

/**
 * Whether an HTTP request selects a subscription: a GET by its query string (`search`, '' or
 * '?…'), a POST by its JSON body (`body`: parsed, anything; what is not a JSON object selects none).
 */
export function requestsSubscription(method: string, body: unknown, search: string): boolean {
  if (method === 'GET') {
    const params = new URLSearchParams(search);
    return isSubscriptionRequest(params.get('query'), params.get('operationName'));
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  return isSubscriptionRequest('query' in body ? body.query : undefined, 'operationName' in body ? body.operationName : undefined);
}
