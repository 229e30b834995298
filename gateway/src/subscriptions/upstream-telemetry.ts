// The `gateway.upstream.subscribe` span: one per deduplicated upstream subscription, covering its
// whole life (opened → last subscriber left, subgraph ended it, or it failed). The upstream is
// shared by every client subscribed to the same operation and outlives the client that opened it,
// so the span is the root of a trace of its own, never a child of that client's span: otherwise
// one client's trace would hold the shared upstream (and every event the subgraph executes for it)
// for hours after that client left. It LINKS to the gateway's `gateway.subscription.start` span of
// the client subscription that caused it (subscribe-telemetry.ts; itself the child of the context
// operations.ts takes from the operation's extensions or its transport), so the upstream's trace
// names the subscription that opened it; clients that later share the upstream add neither a span
// nor a link. Its own context goes to the subgraph in the
// graphql-ws `subscribe` message's `payload.extensions` (`{ traceparent, tracestate? }`,
// common/src/telemetry/graphql-ws-trace.ts), so the subgraph's parse/validate and per-event
// execution spans join the upstream's trace. A reconnect re-sends the same message, so a
// resubscription after a subgraph restart lands in the same trace.
import { ROOT_CONTEXT, SpanKind, trace, type Context } from '@opentelemetry/api';
import { traceExtensions, type TraceExtensions } from '@votemesh/common/telemetry/graphql-ws-trace';
import { ATTR, SPAN_NAMES, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { recordError } from '@votemesh/common/telemetry/propagation';
import type { GraphQLFormattedError } from 'graphql';

const tracer = trace.getTracer(TRACER_NAMES.gateway);

export interface UpstreamTelemetry {
  /** What the upstream `subscribe` message carries in `payload.extensions`. */
  readonly extensions: TraceExtensions;
  /**
   * An upstream result. One with errors and no data is the subgraph refusing the subscription
   * (graphql-ws sends it as `next` + `complete`): the span is marked failed.
   */
  received(result: { readonly data?: unknown; readonly errors?: readonly GraphQLFormattedError[] }): void;
  /** The upstream ended (with the subgraph's or the connection's errors, if any). Idempotent. */
  end(errors?: readonly GraphQLFormattedError[]): void;
}

export function startUpstreamTelemetry(
  opener: Context,
  attributes: { readonly subgraph: string; readonly operationName: string | undefined },
): UpstreamTelemetry {
  const openedBy = trace.getSpanContext(opener);
  const span = tracer.startSpan(
    SPAN_NAMES.upstreamSubscribe,
    {
      kind: SpanKind.CLIENT,
      ...(openedBy && trace.isSpanContextValid(openedBy) ? { links: [{ context: openedBy }] } : {}),
      attributes: {
        [ATTR.GRAPHQL_OPERATION_TYPE]: 'subscription',
        ...(attributes.operationName ? { [ATTR.GRAPHQL_OPERATION_NAME]: attributes.operationName } : {}),
        [ATTR.SUBGRAPH_NAME]: attributes.subgraph,
      },
    },
    ROOT_CONTEXT,
  );
  let ended = false;
  let failed = false;
  const fail = (errors: readonly GraphQLFormattedError[] | undefined): void => {
    const [first] = errors ?? [];
    if (!first || failed || ended) return;
    failed = true;
    const code = first.extensions?.['code'];
    recordError(span, Object.assign(new Error(first.message), typeof code === 'string' ? { code } : {}));
  };
  return {
    extensions: traceExtensions(trace.setSpan(ROOT_CONTEXT, span)),
    received(result) {
      if (result.data === undefined || result.data === null) fail(result.errors);
    },
    end(errors) {
      if (ended) return;
      fail(errors);
      ended = true;
      span.end();
    },
  };
}
