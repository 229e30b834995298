// Plans operations for the subscription path with the supergraph's own query planner: parse,
// validate against the API schema, pick the operation, and for a subscription build the
// `SubscriptionNode { primary, rest }` plan plus the auth requirement of every selected field.
// Results are kept in a small LRU keyed by (document text, operation name).
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { buildOperationContext } from '@apollo/gateway';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import { GraphQLError, Kind, parse, TypeInfo, validate, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import { VotemeshError } from '@votemesh/common/errors';
import { combineAuth, type FieldAuth } from '../supergraph/auth-policy.ts';
import { selectOperation } from '../graphql/select-operation.ts';
import { subscriptionRootConditionals } from '../graphql/subscription-conditionals.ts';

/** The gateway's parsed-operation record (not exported by name from @apollo/gateway). */
export type OperationContext = ReturnType<typeof buildOperationContext>;

export interface PlannedSubscription {
  readonly kind: 'subscription';
  /** Cache key of this (document, operationName): names a resolution group in the hub. */
  readonly key: string;
  readonly document: DocumentNode;
  readonly operationContext: OperationContext;
  readonly primary: FetchNode;
  readonly rest: PlanNode | undefined;
  /** The subscription's one root field as a schema coordinate, e.g. `Subscription.pollResults`. */
  readonly rootField: string;
  /** Every selected field's requirement, combined (all must hold). */
  readonly auth: FieldAuth;
}

export interface PlannedSingleResult {
  readonly kind: 'query' | 'mutation';
  readonly document: DocumentNode;
  readonly auth: FieldAuth;
}

export type PlanResult =
  | { readonly ok: true; readonly operation: PlannedSubscription | PlannedSingleResult }
  | {
      readonly ok: false;
      readonly errors: readonly GraphQLError[];
      /** The operation the document selects, when it parses and selects one: a refused subscription is still traced as one. */
      readonly selected?: { readonly kind: 'query' | 'mutation' | 'subscription'; readonly name: string | undefined };
    };

export interface SubscriptionPlanner {
  readonly apiSchema: GraphQLSchema;
  readonly supergraphSchema: GraphQLSchema;
  readonly federationApiSchema: Schema;
  /** Names of the subgraphs in the supergraph. */
  readonly subgraphNames: readonly string[];
  plan(query: string, operationName: string | undefined): PlanResult;
}

export interface PlannerOptions {
  readonly supergraphSdl: string;
  readonly getFieldAuth: (typeName: string, fieldName: string) => FieldAuth;
  /** @default 500 */
  readonly cacheSize?: number;
}

export function createSubscriptionPlanner(options: PlannerOptions): SubscriptionPlanner {
  // `supportedFeatures: null`: the gateway (not this planner) decides which features it supports;
  // the SDL may still carry the SECURITY links or may have had them stripped.
  const supergraph = Supergraph.build(options.supergraphSdl, { supportedFeatures: null });
  const federationApiSchema = supergraph.apiSchema();
  const apiSchema = federationApiSchema.toGraphQLJSSchema();
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const queryPlanner = new QueryPlanner(supergraph);
  const cacheSize = options.cacheSize ?? 500;
  const cache = new Map<string, PlanResult>();

  function planUncached(key: string, query: string, operationName: string | undefined): PlanResult {
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      const syntax = error instanceof GraphQLError ? error : new GraphQLError(String(error));
      return { ok: false, errors: [withCode(syntax, 'GRAPHQL_PARSE_FAILED')] };
    }
    // The same rule and words as HTTP for a missing or unknown operationName (refused after validation).
    const selected = selectOperation(document, operationName);
    const refused = (errors: readonly GraphQLError[]): PlanResult =>
      selected instanceof VotemeshError ? { ok: false, errors } : { ok: false, errors, selected: { kind: selected.operation, name: selected.name?.value } };
    // Before validate: graphql-js 16's single-root-field rule throws on these (subscription-conditionals.ts).
    const conditionals = subscriptionRootConditionals(document);
    if (conditionals.length > 0) return refused(conditionals.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED')));
    let validationErrors: readonly GraphQLError[];
    try {
      validationErrors = validate(apiSchema, document);
    } catch (error) {
      // A rule that throws instead of reporting (as the single-root-field rule did on the case above)
      // is still the document's fault, not a reason to drop the connection.
      return refused([withCode(toGraphQLError(error), 'GRAPHQL_VALIDATION_FAILED')]);
    }
    if (validationErrors.length > 0) return refused(validationErrors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED')));
    if (selected instanceof VotemeshError) return refused([selected]);
    let operationContext: OperationContext;
    try {
      operationContext = buildOperationContext({ schema: apiSchema, operationDocument: document, ...(operationName ? { operationName } : {}) });
    } catch (error) {
      return refused([withCode(toGraphQLError(error), 'GRAPHQL_VALIDATION_FAILED')]);
    }
    const auth = requiredAuth(apiSchema, document, operationContext, options.getFieldAuth);
    const kind = operationContext.operation.operation;
    if (kind !== 'subscription') return { ok: true, operation: { kind, document, auth } };
    try {
      const operation = operationFromDocument(federationApiSchema, document, operationName ? { operationName } : {});
      const plan = queryPlanner.buildQueryPlan(operation);
      if (plan.node?.kind !== 'Subscription') {
        return refused([withCode(new GraphQLError('The subscription did not plan to a subscription fetch'), 'INTERNAL')]);
      }
      const rootField = `${apiSchema.getSubscriptionType()?.name ?? 'Subscription'}.${rootFieldName(operationContext.operation.selectionSet, operationContext.fragments)}`;
      return { ok: true, operation: { kind, key, document, operationContext, primary: plan.node.primary, rest: plan.node.rest, rootField, auth } };
    } catch (error) {
      return refused([withCode(toGraphQLError(error), 'GRAPHQL_VALIDATION_FAILED')]);
    }
  }

  return {
    apiSchema,
    supergraphSchema,
    federationApiSchema,
    subgraphNames: supergraph.subgraphsMetadata().map((subgraph) => subgraph.name),
    plan(query, operationName) {
      const key = `${operationName ?? ''}\u0000${query}`;
      const cached = cache.get(key);
      if (cached) {
        cache.delete(key);
        cache.set(key, cached);
        return cached;
      }
      const result = planUncached(key, query, operationName);
      cache.set(key, result);
      if (cache.size > cacheSize) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      return result;
    },
  };
}

/** The conjunction of the requirements of every field the operation selects (fragments included;
 * @skip/@include are ignored on purpose: a field the caller may not see is refused either way). */
function requiredAuth(
  schema: GraphQLSchema,
  document: DocumentNode,
  context: OperationContext,
  getFieldAuth: (typeName: string, fieldName: string) => FieldAuth,
): FieldAuth {
  let auth: FieldAuth = 'public';
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Field(node) {
      const parent = typeInfo.getParentType();
      if (!parent || node.name.value.startsWith('__')) return;
      auth = combineAuth(auth, getFieldAuth(parent.name, node.name.value));
    },
  });
  visit(context.operation, visitor);
  const used = new Set<string>();
  visit(document, { FragmentSpread: (spread) => void used.add(spread.name.value) });
  for (const fragment of Object.values(context.fragments)) {
    if (used.has(fragment.name.value)) visit(fragment, visitor);
  }
  return auth;
}

/** The one root field of a (validated) subscription, looking through fragments. */
function rootFieldName(selectionSet: SelectionSetNode, fragments: OperationContext['fragments']): string | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!selection.name.value.startsWith('__')) return selection.name.value;
      continue;
    }
    const inner = selection.kind === Kind.INLINE_FRAGMENT ? selection.selectionSet : fragments[selection.name.value]?.selectionSet;
    const name = inner ? rootFieldName(inner, fragments) : undefined;
    if (name) return name;
  }
  return undefined;
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    extensions: { ...error.extensions, code },
  });
}

function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  return new GraphQLError(error instanceof Error ? error.message : String(error), error instanceof Error ? { originalError: error } : {});
}
