// Trace-context helpers for business modules. Only @opentelemetry/api: these work (as no-ops or
// pass-throughs) whether or not the SDK is started, so code and unit tests never need the SDK.
//
// A vote's trace: gateway HTTP span → subgraph HTTP/GraphQL spans → `send votes` (its traceparent
// is stored in the stream entry) → worker `tally.apply_batch` span LINKING to every entry's
// traceparent → gRPC / bus message carrying the batch traceparent → subscription pushes.
import {
  context as contextApi,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
  type Tracer,
} from '@opentelemetry/api';
import { ATTR } from './names.ts';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

type Carrier = Record<string, string>;

/** The W3C traceparent of `ctx` (default: the active context), or undefined when there is no span. */
export function injectTraceparent(ctx: Context = contextApi.active()): string | undefined {
  const carrier: Carrier = {};
  propagation.inject(ctx, carrier);
  return carrier[TRACEPARENT];
}

/**
 * Adds the propagation headers (traceparent, tracestate, baggage) of `ctx` to `headers` and returns
 * it: for hops the HTTP instrumentation does not see, e.g. graphql-ws `connectionParams`.
 */
export function injectHeaders<T extends Record<string, unknown>>(
  headers: T,
  ctx: Context = contextApi.active(),
): T & { traceparent?: string; tracestate?: string } {
  const carrier: Carrier = {};
  propagation.inject(ctx, carrier);
  return Object.assign(headers, carrier);
}

/** A context whose remote parent is `traceparent` (and `tracestate`), on top of `base`. Invalid → base. */
export function contextFromTraceparent(traceparent: string | undefined, tracestate?: string, base: Context = ROOT_CONTEXT): Context {
  if (!traceparent || !TRACEPARENT_FORMAT.test(traceparent)) return base;
  const carrier: Carrier = { [TRACEPARENT]: traceparent };
  if (tracestate) carrier[TRACESTATE] = tracestate;
  return propagation.extract(base, carrier);
}

export interface WithSpanOptions {
  readonly kind?: SpanKind;
  readonly links?: Link[];
  /** Parent context (default: the active one), e.g. from contextFromTraceparent. */
  readonly parent?: Context;
}

/**
 * Runs `fn` inside a new active span: the span ends when `fn` settles; a throw records the
 * exception, sets status ERROR and `error.type` (the votemesh error code when there is one) and
 * rethrows.
 */
export async function withSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => T | Promise<T>,
  options: WithSpanOptions = {},
): Promise<T> {
  const span = tracer.startSpan(
    name,
    { attributes, ...(options.kind !== undefined ? { kind: options.kind } : {}), ...(options.links ? { links: options.links } : {}) },
    options.parent ?? contextApi.active(),
  );
  const ctx = trace.setSpan(options.parent ?? contextApi.active(), span);
  try {
    return await contextApi.with(ctx, () => fn(span));
  } catch (error) {
    recordError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks `span` failed with `error` (exception event, status ERROR, `error.type`). */
export function recordError(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  else span.recordException(String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.setAttribute(ATTR.ERROR_TYPE, errorType(error));
}

function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { extensions?: { code?: unknown }; code?: unknown }).extensions?.code ?? (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    if (error instanceof Error) return error.name;
  }
  return '_OTHER';
}

/** The trace id of the active span (for audit events' `traceId`), or undefined. */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/**
 * Runs `fn` in the root context: no active span, so whatever it starts is in no request's trace.
 * For long-lived, shared work that a request merely happens to start first (a client stream, a
 * subscription connection, a timer): AsyncLocalStorage would otherwise carry that request's context
 * into every callback, timer and socket the work creates, and its spans for the rest of its life
 * (and other requests' work done through it) would land in that one request's trace. Work done on
 * behalf of an operation then names the operation explicitly (a trace id, a traceparent field).
 */
export function inRootContext<T>(fn: () => T): T {
  return contextApi.with(ROOT_CONTEXT, fn);
}
