// The `gateway.subscription.start` span: one per client subscription the gateway is asked to start,
// over every transport (graphql-ws `subscribe`, SSE and multipart streams), from the request
// reaching OperationStarter.start until start returns: planning, the auth policy, coercing the
// variables and joining or opening the upstream in the hub. It ends there, not when the subscription
// ends. A subscription lives for minutes or hours, and a span is exported only once it ends: one
// open for the subscription's life would show nothing while the client watches (and nothing at all
// if the process stopped first), and would hold the client's trace open all that time. What happens
// later has traces of its own: the shared upstream's `gateway.upstream.subscribe`, which LINKS to
// this span when this subscription opened it (the hub gets this span's context as the subscription's
// trace context), and each event's `gateway.subscription.fanout`.
//
// It is the child of the client operation's trace context (operations.ts: its `extensions`, else
// the transport's), so a client following its subscription finds the gateway in its own trace.
// Kind SERVER when that parent is the client's (remote) or there is none: the gateway serving a
// client's request. INTERNAL when the parent is the gateway's own HTTP server span (an SSE or
// multipart stream without a traceparent of its own), which already is that request's SERVER span:
// tools that count requests from SERVER spans would count the stream twice.
//
// Cheap in local telemetry mode: a span there is fresh ids and nothing else (local-tracer.ts), so
// attributes and error details are built only when the span records.
import { SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import { VotemeshError } from '@votemesh/common/errors';
import { ATTR, SPAN_NAMES, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { recordError } from '@votemesh/common/telemetry/propagation';
import { Kind, type GraphQLError } from 'graphql';

const tracer = trace.getTracer(TRACER_NAMES.gateway);

/** `votemesh.subscription.outcome`: subscribed, rejected (a refusal the client is told about), failed (start threw). */
export type SubscribeOutcome = 'subscribed' | 'rejected' | 'failed';

export interface SubscribeSpanAttributes {
  readonly operationName: string | undefined;
  /** The subgraph the subscription's upstream goes to, once the operation planned. */
  readonly subgraph?: string;
  /** The subscription's root field (`pollResults`), once the operation planned. */
  readonly field?: string;
}

export interface SubscribeTelemetry {
  /** The span's context: the subscription's trace context from here on (what the hub gets). */
  readonly context: Context;
  /** In the hub: whether it opened its upstream or joined one. Ends the span. */
  subscribed(upstream: 'opened' | 'joined'): void;
  /** Refused (plan or auth policy): the first error's code and message. Ends the span. */
  rejected(errors: readonly GraphQLError[]): void;
  /** Refused variables: their names and the code, never their values (coercion messages quote them). Ends the span. */
  rejectedVariables(errors: readonly GraphQLError[]): void;
  /** Start threw (a fault of the gateway's, rethrown to the transport). Ends the span. */
  failed(error: unknown): void;
}

/**
 * Starts the span as of `startTime` (a `performance.now()` taken before planning: the span is only
 * started once the plan says the operation is a subscription, and still covers the planning).
 */
export function startSubscribeTelemetry(parent: Context, startTime: number, attributes: SubscribeSpanAttributes): SubscribeTelemetry {
  const parentSpan = trace.getSpanContext(parent);
  const kind = parentSpan !== undefined && parentSpan.isRemote !== true ? SpanKind.INTERNAL : SpanKind.SERVER;
  const span = tracer.startSpan(SPAN_NAMES.subscriptionStart, { kind, startTime }, parent);
  const recording = span.isRecording();
  if (recording) {
    span.setAttributes({
      [ATTR.GRAPHQL_OPERATION_TYPE]: 'subscription',
      ...(attributes.operationName ? { [ATTR.GRAPHQL_OPERATION_NAME]: attributes.operationName } : {}),
      ...(attributes.subgraph ? { [ATTR.SUBGRAPH_NAME]: attributes.subgraph } : {}),
      ...(attributes.field ? { [ATTR.SUBSCRIPTION_FIELD]: attributes.field } : {}),
    });
  }
  let ended = false;
  const end = (outcome: SubscribeOutcome, record?: (span: Span) => void): void => {
    if (ended) return;
    ended = true;
    if (recording) {
      span.setAttribute(ATTR.SUBSCRIPTION_OUTCOME, outcome);
      record?.(span);
    }
    // On the clock the start time was read from (performance.now()): the SDK would take Date.now()
    // for the end of a span given a start time, and the two clocks drift apart.
    span.end(performance.now());
  };
  return {
    context: trace.setSpan(parent, span),
    subscribed(upstream) {
      end('subscribed', (recorded) => recorded.setAttribute(ATTR.SUBSCRIPTION_UPSTREAM, upstream));
    },
    rejected(errors) {
      end('rejected', (recorded) => {
        const [first] = errors;
        if (first) recordError(recorded, first);
      });
    },
    rejectedVariables(errors) {
      end('rejected', (recorded) => recordError(recorded, withoutValues(errors)));
    },
    failed(error) {
      end('failed', (recorded) => recordError(recorded, error));
    },
  };
}

/** BAD_USER_INPUT naming the refused variables (from each coercion error's variable definition). */
function withoutValues(errors: readonly GraphQLError[]): VotemeshError {
  const names = new Set<string>();
  for (const error of errors) {
    for (const node of error.nodes ?? []) if (node.kind === Kind.VARIABLE_DEFINITION) names.add(`$${node.variable.name.value}`);
  }
  const which = names.size > 0 ? [...names].join(', ') : 'unnamed';
  return new VotemeshError('BAD_USER_INPUT', `Refused variables: ${which} (values are never recorded on spans)`);
}
