// The tracer provider of `local` telemetry mode (sdk.ts): every span is a non-recording span with
// fresh ids, the child of the active span's trace (or the first of a new trace). That is all
// local mode needs from spans: W3C propagation onwards and trace_id/span_id on log lines. The
// SDK's tracer, even when its sampler drops every span, still copies and checks each span's
// attributes, asks the sampler and counts the span in its own metrics for every span it starts
// (Apollo's gateway starts five per request, each instrumentation and `withSpan` more), and none
// of that is ever read in local mode.
import {
  context as contextApi,
  INVALID_SPAN_CONTEXT,
  INVALID_TRACEID,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { RandomIdGenerator } from '@opentelemetry/sdk-trace';

const ids = new RandomIdGenerator();

class LocalTracer implements Tracer {
  startSpan(_name: string, options?: SpanOptions, ctx: Context = contextApi.active()): Span {
    // As the SDK does: suppressed tracing (e.g. an exporter's own requests) gets the invalid span.
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parent = options?.root ? undefined : trace.getSpanContext(ctx);
    // Not the regex check of isSpanContextValid: a parent here was extracted by the W3C propagator
    // (which validates), minted below, or is the invalid context (all zeros).
    const inTrace = parent !== undefined && parent.traceId !== INVALID_TRACEID;
    return trace.wrapSpanContext({
      traceId: inTrace ? parent.traceId : ids.generateTraceId(),
      spanId: ids.generateSpanId(),
      traceFlags: TraceFlags.NONE,
      ...(inTrace && parent.traceState ? { traceState: parent.traceState } : {}),
    });
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, a: SpanOptions | F, b?: Context | F, c?: F): ReturnType<F> {
    const fn = typeof a === 'function' ? a : typeof b === 'function' ? b : c;
    if (!fn) throw new TypeError('startActiveSpan needs a function');
    const options = typeof a === 'function' ? undefined : a;
    const parent = typeof b === 'object' ? b : contextApi.active();
    const span = this.startSpan(name, options, parent);
    return contextApi.with(trace.setSpan(parent, span), () => fn(span) as ReturnType<F>);
  }
}

export class LocalTracerProvider implements TracerProvider {
  readonly #tracer = new LocalTracer();

  getTracer(): Tracer {
    return this.#tracer;
  }
}
