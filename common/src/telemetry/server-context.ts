// The trace context of an incoming HTTP request in `local` telemetry mode (sdk.ts), without the
// http instrumentation's server side: the caller's W3C context (traceparent, tracestate, baggage)
// is extracted and a server span with fresh ids is made active for the handler, so log lines carry
// trace_id/span_id and every hop onwards (subgraph calls, stream entries, gRPC) continues the
// caller's trace, exactly as before. What is not done is what only a recorded span needs, and
// nothing records in local mode: ~20 request attributes (URL parsing, host/peer address), the
// header capture, binding the request and response emitters to the context, the end-of-response
// attributes and the duration histogram.
// In every other mode this is a pass-through: with an exporter, the http instrumentation records
// real server spans; with telemetry disabled, there is nothing to propagate.
import type { IncomingMessage } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { TRACER_NAMES } from './names.ts';

/** Probe and scrape paths: no span for kubelet and Prometheus traffic (as the instrumentation is told in sdk.ts). */
export const UNTRACED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

let localTracer: Tracer | undefined;

/** Called by startTelemetry: on in `local` mode (where the http instrumentation handles outgoing calls only), off otherwise. */
export function setLocalServerContext(enabled: boolean): void {
  localTracer = enabled ? trace.getTracer(TRACER_NAMES.common) : undefined;
}

/** Runs `handler` in the request's server-span context (local mode), or as it is. */
export function runInServerContext<T>(req: IncomingMessage, handler: () => T): T {
  if (!localTracer || UNTRACED_PATHS.has((req.url ?? '').split('?', 1)[0] ?? '')) return handler();
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  // Sampled off in local mode: a non-recording span, ids only; nothing to end.
  const span = localTracer.startSpan(req.method ?? 'GET', { kind: SpanKind.SERVER }, parent);
  return context.with(trace.setSpan(parent, span), handler);
}
