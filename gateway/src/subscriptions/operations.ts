// What both transports do with one requested operation: parse the request at the edge, plan it,
// coerce its variables, check the caller may select every field, then either subscribe it in the
// hub or run it once through the gateway's query path.
//
// Trace context of a client operation on a socket or stream, first found wins:
//   1. the operation's `extensions.traceparent` (+ `tracestate`): graphql-ws `subscribe` payload,
//      SSE/multipart request body or query string;
//   2. what the transport had: graphql-ws `connection_init` payload `{ traceparent, tracestate? }`
//      (per connection); for SSE/multipart the request's `traceparent` header (the HTTP server span);
//   3. none: the operation's spans start a new trace.
// A subscription's start is traced there (subscribe-telemetry.ts: `gateway.subscription.start`, for
// the start only); queries and mutations are traced by the HTTP path they take.
import { context as contextApi, type Context } from '@opentelemetry/api';
import type { Identity } from '@votemesh/common/contracts/identity';
import { VotemeshError } from '@votemesh/common/errors';
import { contextFromTraceExtensions } from '@votemesh/common/telemetry/graphql-ws-trace';
import { getVariableValues, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { enforcePolicy } from '../auth/enforce-policy.ts';
import type { AuthPolicy } from '../supergraph/auth-policy.ts';
import type { PlannedSubscription, SubscriptionPlanner } from './planner.ts';
import { startSubscribeTelemetry, type SubscribeTelemetry } from './subscribe-telemetry.ts';
import type { SubscriberSink, SubscriptionHub } from './subscription-hub.ts';

/** A caller as the gateway's `authenticate` returns it (scopes and `exp` when the token had them). */
export interface AuthenticatedCaller extends Identity {
  readonly scopes?: readonly string[];
  /** The token's `exp`, seconds since the epoch. */
  readonly expiresAt?: number | undefined;
}

export interface OperationRequest {
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Record<string, unknown>;
  readonly extensions: Record<string, unknown>;
}

/**
 * Runs a query or mutation through the gateway's normal HTTP path (same plan, auth, limits: the
 * gateway's executeOperation admits it first, counting it as one request of this client).
 * `clientAddress`: the socket's or stream's address (how an anonymous caller is counted).
 */
export type ExecuteOperation = (request: OperationRequest, caller: AuthenticatedCaller | undefined, clientAddress: string) => Promise<ExecutionResult>;

export type StartedOperation =
  | { readonly kind: 'rejected'; readonly errors: readonly GraphQLFormattedError[] }
  | { readonly kind: 'single'; readonly result: Promise<ExecutionResult> }
  | { readonly kind: 'subscribed'; readonly unsubscribe: () => void };

export interface OperationStarter {
  /**
   * `transportContext`: the trace context the transport carried (graphql-ws `connection_init`, the
   * HTTP request); default the active context. The request's own `extensions` override it.
   */
  start(
    request: OperationRequest,
    caller: AuthenticatedCaller | undefined,
    clientAddress: string,
    sink: SubscriberSink,
    transportContext?: Context,
  ): StartedOperation;
  /** The type of operation `request` runs, undefined when it does not plan (`start` says why). Plans are cached. */
  kindOf(request: OperationRequest): 'query' | 'mutation' | 'subscription' | undefined;
}

/** Parses `{ query, operationName?, variables?, extensions? }`; a string says what is wrong. */
export function parseOperationRequest(value: unknown): OperationRequest | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the operation must be a JSON object';
  const fields: Record<string, unknown> = { ...value };
  const { query, operationName, variables, extensions } = fields;
  if (typeof query !== 'string' || query.trim() === '') return '"query" must be a non-empty string';
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return '"operationName" must be a string or null';
  if (variables !== undefined && variables !== null && !isPlainObject(variables)) return '"variables" must be an object or null';
  if (extensions !== undefined && extensions !== null && !isPlainObject(extensions)) return '"extensions" must be an object or null';
  return {
    query,
    operationName: typeof operationName === 'string' && operationName !== '' ? operationName : undefined,
    variables: isPlainObject(variables) ? variables : {},
    extensions: isPlainObject(extensions) ? extensions : {},
  };
}

export function createOperationStarter(options: {
  readonly planner: SubscriptionPlanner;
  readonly hub: SubscriptionHub;
  readonly executeOperation: ExecuteOperation | undefined;
  /** The supergraph's auth policy (what the HTTP path enforces). */
  readonly policy: AuthPolicy;
}): OperationStarter {
  const { planner, hub, policy } = options;

  /** Policy, variables, then the hub: the subscription's part of `start`, each outcome told to `telemetry`. */
  function subscribe(
    operation: PlannedSubscription,
    request: OperationRequest,
    caller: AuthenticatedCaller | undefined,
    sink: SubscriberSink,
    telemetry: SubscribeTelemetry,
  ): StartedOperation {
    // HTTP's check and words (the fields, the scope, the caller's role), on every selected field.
    try {
      const { operation: definition, fragments } = operation.operationContext;
      enforcePolicy({
        schema: planner.apiSchema,
        operation: definition,
        fragments,
        variables: undefined,
        policy,
        identity: caller,
        includeSkippedFields: true,
      });
    } catch (error) {
      if (!(error instanceof VotemeshError)) throw error;
      telemetry.rejected([error]);
      return { kind: 'rejected', errors: [error.toJSON()] };
    }
    const coerced = getVariableValues(planner.apiSchema, operation.operationContext.operation.variableDefinitions ?? [], request.variables, {
      maxErrors: 10,
    });
    if (coerced.errors) {
      telemetry.rejectedVariables(coerced.errors);
      return { kind: 'rejected', errors: coerced.errors.map((error) => new VotemeshError('BAD_USER_INPUT', error.message, { cause: error }).toJSON()) };
    }
    const identity = caller ? { subject: caller.subject, role: caller.role } : undefined;
    // The span's context, not the client's: the upstream span this may open links to the gateway's span.
    const subscription = hub.subscribe({ plan: operation, variables: coerced.coerced, identity, sink, traceContext: telemetry.context });
    telemetry.subscribed(subscription.upstream);
    return { kind: 'subscribed', unsubscribe: subscription.unsubscribe };
  }

  return {
    kindOf(request) {
      const planned = planner.plan(request.query, request.operationName);
      return planned.ok ? planned.operation.kind : undefined;
    },
    start(request, caller, clientAddress, sink, transportContext = contextApi.active()) {
      // Read before planning: a subscription's span starts once the plan says it is one, as of now.
      const startTime = performance.now();
      const traceContext = contextFromTraceExtensions(request.extensions, transportContext);
      const planned = planner.plan(request.query, request.operationName);
      if (!planned.ok) {
        if (planned.selected?.kind === 'subscription') {
          startSubscribeTelemetry(traceContext, startTime, { operationName: planned.selected.name }).rejected(planned.errors);
        }
        return { kind: 'rejected', errors: planned.errors.map((error) => error.toJSON()) };
      }
      const { operation } = planned;
      if (operation.kind !== 'subscription') {
        // Queries and mutations take the HTTP path unchanged (its admission: AUTH_REQUIRED_FOR_GRAPH
        // and the rate limit; its policy, limits and partial results).
        if (!options.executeOperation) {
          const error = new VotemeshError(
            'BAD_USER_INPUT',
            `This endpoint serves ${operation.kind} operations over HTTP POST /graphql; use the socket for subscriptions`,
          );
          return { kind: 'rejected', errors: [error.toJSON()] };
        }
        const execute = options.executeOperation;
        return { kind: 'single', result: contextApi.with(traceContext, () => execute(request, caller, clientAddress)) };
      }
      const telemetry = startSubscribeTelemetry(traceContext, startTime, {
        operationName: operation.operationContext.operation.name?.value,
        subgraph: operation.primary.serviceName,
        field: operation.rootField.slice(operation.rootField.indexOf('.') + 1),
      });
      try {
        return subscribe(operation, request, caller, sink, telemetry);
      } catch (error) {
        telemetry.failed(error);
        throw error;
      }
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
