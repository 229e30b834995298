// OpenTelemetry glue for the batch span: links to the castVote spans carried in stream entries,
// and the batch span's own traceparent for the tally messages it produces.
import { isSpanContextValid, trace, TraceFlags, type Link, type Span } from '@opentelemetry/api';
import { SPAN_NAMES, TRACER_NAMES } from '@votemesh/common/telemetry/names';

export const tracer = trace.getTracer(TRACER_NAMES.worker);
export const BATCH_SPAN = SPAN_NAMES.tallyApplyBatch;
/** A batch span links to at most this many castVote spans; more would bloat every trace. */
export const MAX_LINKS = 64;

export function linkFromTraceparent(traceparent: string): Link | undefined {
  const [version, traceId, spanId, flags] = traceparent.split('-');
  if (version !== '00' || !traceId || !spanId || !flags) return undefined;
  const spanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
}

export function traceparentOf(span: Span): string | undefined {
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
