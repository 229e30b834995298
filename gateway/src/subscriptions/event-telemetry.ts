// Telemetry of one upstream subscription event at the gateway. A subgraph puts what the next hop
// needs in the event's `extensions` (graphql-ws has no per-message headers; see
// subgraphs/result/src/push-telemetry.ts): `traceparent` (TRACEPARENT_EXTENSION) and
// `committedAtMs`. The event resolver never copies upstream extensions into client results, so
// both stay inside the gateway.
// - With a traceparent, the event's resolution (entity fetches included) and its fan-out run in a
//   `gateway.subscription.fanout` span that continues the subgraph's trace — for a tally that is
//   the worker batch's trace, which links to every vote in the batch. Events without one start no
//   trace: a lone root span per receipt or audit event would only add noise.
// - With a commit time, the delivery latency (commit → written to clients) is measured once per
//   event, whatever the fan-out, so a poll with many watchers does not outweigh the others.
import { context as otelContext, SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import { ATTR, SPAN_NAMES, TRACEPARENT_EXTENSION, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { contextFromTraceparent, recordError } from '@votemesh/common/telemetry/propagation';
import type { UpstreamEvent } from './event-resolver.ts';

/** The extensions key carrying the commit time (epoch ms) of a tally event. */
export const COMMITTED_AT_EXTENSION = 'committedAtMs';

const tracer = trace.getTracer(TRACER_NAMES.gateway);

export interface EventTelemetry {
  /** Runs `fn` with the event's span active, so subgraph fetches it makes join the trace. */
  run<T>(fn: () => T): T;
  /** The event was written to `sent` clients (or failed): ends the span. */
  end(sent: number, error?: unknown): void;
  /** Seconds from the commit to now, when the event carries a commit time. */
  deliverySeconds(): number | undefined;
}

export function startEventTelemetry(event: UpstreamEvent, attributes: { readonly subgraph: string; readonly subscribers: number }): EventTelemetry {
  const traceparent = event.extensions?.[TRACEPARENT_EXTENSION];
  const committedAt = event.extensions?.[COMMITTED_AT_EXTENSION];
  let span: Span | undefined;
  let active: Context | undefined;
  if (typeof traceparent === 'string') {
    const parent = contextFromTraceparent(traceparent);
    span = tracer.startSpan(
      SPAN_NAMES.subscriptionFanout,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [ATTR.GRAPHQL_OPERATION_TYPE]: 'subscription',
          [ATTR.SUBGRAPH_NAME]: attributes.subgraph,
          [ATTR.SUBSCRIBERS]: attributes.subscribers,
        },
      },
      parent,
    );
    active = trace.setSpan(parent, span);
  }
  return {
    run: (fn) => (active ? otelContext.with(active, fn) : fn()),
    end(sent, error) {
      if (!span) return;
      span.setAttribute(ATTR.SUBSCRIPTION_MESSAGES, sent);
      if (error !== undefined) recordError(span, error);
      span.end();
    },
    deliverySeconds: () => (typeof committedAt === 'number' && committedAt > 0 ? Math.max(0, Date.now() - committedAt) / 1000 : undefined),
  };
}
