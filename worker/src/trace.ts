// OpenTelemetry glue for the batch span: links to the castVote spans carried in stream entries,
// and the batch span's own traceparent for the tally messages it produces.
import { isSpanContextValid, trace, TraceFlags, type Attributes, type Link, type Span } from '@opentelemetry/api';
import { ATTR, ATTR_VALUES, SPAN_NAMES, TRACER_NAMES, VOTES_DESTINATION, VOTES_CONSUMER_GROUP } from '@votemesh/common/telemetry/names';

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

/**
 * Attributes of the batch span: `votemesh.batch.size` and the semantic-convention ones of a
 * messaging `process` of `count` stream entries.
 */
export function batchSpanAttributes(count: number): Attributes {
  return {
    [ATTR.BATCH_SIZE]: count,
    [ATTR.MESSAGING_SYSTEM]: ATTR_VALUES.MESSAGING_SYSTEM_REDIS,
    [ATTR.MESSAGING_DESTINATION_NAME]: VOTES_DESTINATION,
    [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: VOTES_CONSUMER_GROUP,
    [ATTR.MESSAGING_OPERATION_TYPE]: ATTR_VALUES.MESSAGING_OPERATION_PROCESS,
    [ATTR.MESSAGING_BATCH_MESSAGE_COUNT]: count,
  };
}

/**
 * `trace_id` and `span_id` of a traceparent, named as the logger's mixin names them for the active
 * span: for log lines written outside the span (the batch settles after its span ended).
 */
export function logTraceFields(traceparent: string | undefined): { trace_id?: string; span_id?: string } {
  const [, traceId, spanId] = traceparent?.split('-') ?? [];
  return traceId && spanId ? { trace_id: traceId, span_id: spanId } : {};
}
