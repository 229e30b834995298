// W3C trace context over graphql-ws (`graphql-transport-ws`), which has no per-message headers:
// the subscriber puts the context of the span that opens an operation into the `subscribe`
// message's `payload.extensions` as `{ traceparent, tracestate? }` (TRACE_EXTENSION_KEYS); the
// server runs that operation under it. The gateway writes it for every upstream subscription
// (gateway/src/subscriptions/upstream.ts); the subgraphs wrap their `useServer` options in
// `withTraceContext`. Both sides only use the OpenTelemetry API: without the SDK this is a no-op.
import { context as contextApi, type Context } from '@opentelemetry/api';
import { execute, parse, subscribe, validate, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import { contextFromTraceparent, injectHeaders } from './propagation.ts';

/** The keys of a subscribe message's `payload.extensions` (or a `connection_init` payload) that carry trace context. */
export const TRACE_EXTENSION_KEYS = { traceparent: 'traceparent', tracestate: 'tracestate' } as const;

/** A type, not an interface, so it is assignable to `Record<string, unknown>` (extensions maps). */
export type TraceExtensions = { traceparent?: string; tracestate?: string };

/** `{ traceparent, tracestate? }` of `ctx` (default: the active context); empty when it has no span. */
export function traceExtensions(ctx: Context = contextApi.active()): TraceExtensions {
  const carrier = injectHeaders<Record<string, unknown>>({}, ctx);
  const extensions: TraceExtensions = {};
  if (typeof carrier.traceparent === 'string') extensions.traceparent = carrier.traceparent;
  if (typeof carrier.tracestate === 'string' && carrier.tracestate !== '') extensions.tracestate = carrier.tracestate;
  return extensions;
}

/**
 * The remote parent carried by `carrier` (a subscribe message's `extensions`, a `connection_init`
 * payload): `base` plus that span context, or `base` itself when it carries no valid traceparent.
 */
export function contextFromTraceExtensions(carrier: unknown, base: Context): Context {
  if (typeof carrier !== 'object' || carrier === null) return base;
  const { traceparent, tracestate } = carrier as Record<string, unknown>;
  if (typeof traceparent !== 'string') return base;
  return contextFromTraceparent(traceparent, typeof tracestate === 'string' ? tracestate : undefined, base);
}

/** graphql-ws server options, plus `isProd` of `graphql-ws/use/ws` (passed through unchanged). */
export type UseServerOptions<P extends Record<string, unknown> | undefined, E> = ServerOptions<P, E> & { isProd?: boolean };

/**
 * graphql-ws server options whose operations run under the trace context of their `subscribe`
 * message: parsing and validation, the subscription's setup (its `subscribe` resolver) and every
 * event's execution — so the `graphql.parse`/`graphql.validate` spans, the per-event
 * `subscription …` spans (with their resolver, Redis, SQL and gRPC spans) become descendants of the
 * subscriber's span instead of roots. Messages without a traceparent run as before.
 *
 * It takes over `onSubscribe` (calling the given one first, under the context) to parse and
 * validate the operation itself — exactly as graphql-ws does, honouring `schema`, `parse` and
 * `validate` — because graphql-ws hands neither `parse` nor `validate` the message.
 */
export function withTraceContext<P extends Record<string, unknown> | undefined, E>(options: UseServerOptions<P, E>): UseServerOptions<P, E> {
  const parents = new WeakMap<ExecutionArgs, Context>();
  const runSubscribe = options.subscribe ?? subscribe;
  const runExecute = options.execute ?? execute;
  return {
    ...options,
    async onSubscribe(ctx, id, payload) {
      const parent = contextFromTraceExtensions(payload.extensions, contextApi.active());
      return contextApi.with(parent, async () => {
        const given = await options.onSubscribe?.(ctx, id, payload);
        if (given) {
          if (!Array.isArray(given)) parents.set(given as ExecutionArgs, parent);
          return given;
        }
        const { schema } = options;
        if (!schema) throw new Error('The GraphQL schema is not provided');
        const args = { operationName: payload.operationName, document: (options.parse ?? parse)(payload.query), variableValues: payload.variables };
        const execArgs: ExecutionArgs = { ...args, schema: typeof schema === 'function' ? await schema(ctx, id, payload, args) : schema };
        const errors = (options.validate ?? validate)(execArgs.schema, execArgs.document);
        if (errors.length > 0) return errors;
        parents.set(execArgs, parent);
        return execArgs;
      });
    },
    subscribe(args) {
      const parent = parents.get(args);
      if (!parent) return runSubscribe(args);
      return contextApi.with(parent, async () => {
        const result = await runSubscribe(args);
        return isAsyncIterable(result) ? bindIterator(result, parent) : result;
      });
    },
    execute(args) {
      const parent = parents.get(args);
      return parent ? contextApi.with(parent, () => runExecute(args)) : runExecute(args);
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * The stream with every `next`/`return`/`throw` entered under `ctx`: graphql-js executes an event
 * inside `next()`, whose async continuation keeps the context it was entered with, while graphql-ws
 * pulls events from its message handler, where no trace is active.
 */
function bindIterator(source: AsyncIterable<ExecutionResult>, ctx: Context): AsyncGenerator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  const bound: AsyncGenerator<ExecutionResult> = {
    next: (...value: [] | [unknown]) => contextApi.with(ctx, () => iterator.next(...value)),
    return: (value) => contextApi.with(ctx, async () => (iterator.return ? iterator.return(value) : { done: true as const, value: await value })),
    throw: (error: unknown) =>
      contextApi.with(ctx, async () => {
        if (iterator.throw) return iterator.throw(error);
        throw error;
      }),
    [Symbol.asyncIterator]: () => bound,
    [Symbol.asyncDispose]: async () => {
      await bound.return(undefined);
    },
  };
  return bound;
}
