// Trace context over graphql-ws and the event bus, with the SDK started in-process as a process's
// instrument.ts does (in-memory exporter). graphql-ws runs for real (`makeServer`) behind a socket
// double, so every message goes through its protocol code; the bus runs on the local Redis.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR, SPAN_NAMES, TRACER_NAMES } from '../src/telemetry/names.ts';
import { startSpanRecorder, type ReadableSpan } from '../src/testing/span-recorder.ts';
import { waitFor } from '../src/testing/wait-for.ts';

const recorder = await startSpanRecorder();
// graphql (and what loads it) after the SDK, so its instrumentation is in place.
const { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } = await import('graphql');
const { GRAPHQL_TRANSPORT_WS_PROTOCOL, makeServer } = await import('graphql-ws');
const { contextFromTraceExtensions, traceExtensions, withTraceContext } = await import('../src/telemetry/graphql-ws-trace.ts');
const { Redis } = await import('ioredis');
const { createRedisEventBus } = await import('../src/bus/redis-event-bus.ts');

const tracer = trace.getTracer(TRACER_NAMES.common);
after(() => recorder.shutdown());

interface RemoteParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

function remoteParent(): RemoteParent {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

function traceIdOf(span: ReadableSpan): string {
  return span.spanContext().traceId;
}

/** Trace ids the `ticks` subscribe resolver saw as active (one per subscription set up). */
const setupTraces: (string | undefined)[] = [];

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ping: { type: GraphQLString, resolve: () => 'pong' } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      ticks: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { count: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, args: { count: number }) {
          setupTraces.push(trace.getSpanContext(context.active())?.traceId);
          for (let n = 1; n <= args.count; n += 1) {
            await new Promise((resolve) => setImmediate(resolve)); // each event arrives on its own turn
            yield n;
          }
        },
        resolve: (n: unknown) => n,
      },
    },
  }),
});

interface WireMessage {
  readonly type: string;
  readonly id?: string;
  readonly payload?: unknown;
}

/** One graphql-ws connection to `server` through a socket double. */
async function connect(server: ReturnType<typeof makeServer>) {
  const received: WireMessage[] = [];
  let handler: ((data: string) => Promise<void>) | undefined;
  server.opened(
    {
      protocol: GRAPHQL_TRANSPORT_WS_PROTOCOL,
      send: (data) => void received.push(JSON.parse(data) as WireMessage),
      close: (code, reason) => {
        throw new Error(`socket closed ${code} ${reason}`);
      },
      onMessage: (cb) => {
        handler = cb;
      },
    },
    {},
  );
  const send = (message: object): Promise<void> => {
    if (!handler) throw new Error('graphql-ws did not listen to the socket');
    return handler(JSON.stringify(message));
  };
  await send({ type: 'connection_init' });
  assert.deepEqual(received.shift(), { type: 'connection_ack' });
  return {
    received,
    /** Sends `subscribe` and resolves once graphql-ws has finished the operation. */
    run: (id: string, payload: object) => send({ id, type: 'subscribe', payload }),
  };
}

describe('trace context over graphql-ws', () => {
  const server = makeServer(withTraceContext({ schema }));

  it('runs parse, validate, the subscription setup and every event under the subscribe extensions', async () => {
    recorder.reset();
    const parent = remoteParent();
    const socket = await connect(server);
    await socket.run('1', {
      query: 'subscription Ticks($count: Int!) { ticks(count: $count) }',
      operationName: 'Ticks',
      variables: { count: 3 },
      extensions: { traceparent: parent.traceparent, tracestate: 'vm=1' },
    });
    assert.deepEqual(socket.received, [
      { id: '1', type: 'next', payload: { data: { ticks: 1 } } },
      { id: '1', type: 'next', payload: { data: { ticks: 2 } } },
      { id: '1', type: 'next', payload: { data: { ticks: 3 } } },
      { id: '1', type: 'complete' },
    ]);
    assert.deepEqual(setupTraces.splice(0), [parent.traceId], 'the subscribe resolver ran in the remote trace');
    const spans = recorder.spans();
    const events = spans.filter((span) => span.name === 'subscription Ticks');
    assert.equal(events.length, 3, 'one execution span per event');
    for (const span of [...events, ...spans.filter((candidate) => candidate.name === 'graphql.parse' || candidate.name === 'graphql.validate')]) {
      assert.equal(traceIdOf(span), parent.traceId, `${span.name} is in the subscriber's trace`);
      assert.equal(span.parentSpanContext?.spanId, parent.spanId, `${span.name} is a child of the subscriber's span`);
    }
    assert.equal(spans.filter((span) => span.name === 'graphql.parse' || span.name === 'graphql.validate').length, 2);
    assert.equal(events[0]?.spanContext().traceState?.get('vm'), '1', 'tracestate travels with the traceparent');
  });

  it('runs a query sent over the socket under its extensions too', async () => {
    recorder.reset();
    const parent = remoteParent();
    const socket = await connect(server);
    await socket.run('q', { query: 'query Ping { ping }', extensions: { traceparent: parent.traceparent } });
    assert.deepEqual(socket.received, [
      { id: 'q', type: 'next', payload: { data: { ping: 'pong' } } },
      { id: 'q', type: 'complete' },
    ]);
    const execution = recorder.spans().find((span) => span.name === 'query Ping');
    assert.equal(execution?.parentSpanContext?.spanId, parent.spanId);
  });

  it('leaves operations without a traceparent (or with a malformed one) as they were: their own traces', async () => {
    recorder.reset();
    const socket = await connect(server);
    await socket.run('a', { query: 'subscription Plain { ticks(count: 1) }' });
    await socket.run('b', { query: 'subscription Plain { ticks(count: 1) }', extensions: { traceparent: 'not-a-traceparent' } });
    assert.equal(socket.received.filter((message) => message.type === 'next').length, 2);
    const events = recorder.spans().filter((span) => span.name === 'subscription Plain');
    assert.equal(events.length, 2);
    assert.ok(
      events.every((span) => span.parentSpanContext === undefined),
      'root spans',
    );
    assert.notEqual(traceIdOf(events[0]!), traceIdOf(events[1]!));
    setupTraces.splice(0);
  });

  it('answers invalid documents exactly as graphql-ws does: an error message, the socket stays open', async () => {
    const socket = await connect(server);
    await socket.run('bad', { query: 'subscription { nope }', extensions: { traceparent: remoteParent().traceparent } });
    assert.equal(socket.received.length, 1);
    const [message] = socket.received;
    assert.equal(message?.type, 'error');
    assert.match((message?.payload as { message: string }[])[0]?.message ?? '', /Cannot query field "nope"/);
    await socket.run('good', { query: 'subscription { ticks(count: 1) }' });
    assert.deepEqual(socket.received.slice(1), [
      { id: 'good', type: 'next', payload: { data: { ticks: 1 } } },
      { id: 'good', type: 'complete' },
    ]);
    setupTraces.splice(0);
  });

  it('writes and reads the extensions: traceExtensions ⇄ contextFromTraceExtensions', async () => {
    assert.deepEqual(traceExtensions(ROOT_CONTEXT), {}, 'no span, nothing to send');
    const span = tracer.startSpan('sender');
    const sent = traceExtensions(trace.setSpan(ROOT_CONTEXT, span));
    span.end();
    assert.match(sent.traceparent ?? '', new RegExp(`^00-${span.spanContext().traceId}-${span.spanContext().spanId}-01$`));
    const received = trace.getSpanContext(contextFromTraceExtensions(sent, ROOT_CONTEXT));
    assert.equal(received?.spanId, span.spanContext().spanId);
    assert.equal(received?.isRemote, true);
    for (const carrier of [undefined, null, 'x', {}, { traceparent: 42 }, { traceparent: '00-bad' }]) {
      assert.equal(contextFromTraceExtensions(carrier, ROOT_CONTEXT), ROOT_CONTEXT, JSON.stringify(carrier));
    }
  });
});

describe('event bus spans (Redis)', () => {
  const prefix = `vmtest:${randomBytes(6).toString('hex')}:`;
  const publisher = new Redis('redis://127.0.0.1:6379');
  const bus = createRedisEventBus({ publisher, subscriber: publisher.duplicate(), prefix, logger: { warn: () => {}, error: () => {} } });
  after(async () => {
    await bus.close();
    publisher.disconnect();
  });

  let received: string[] = [];
  before(async () => {
    await bus.subscribe('tally', (message) => {
      received.push(trace.getSpanContext(context.active())?.traceId ?? 'none');
      assert.equal(message.type, 'tally');
    });
    await bus.subscribe('receipt', () => {
      received.push(trace.getSpanContext(context.active())?.traceId ?? 'none');
    });
  });

  it('publishing inside a traced operation is a `send bus` producer span in it; outside one, none', async () => {
    recorder.reset();
    received = [];
    const receipt = { type: 'receipt', receiptId: randomUUID(), pollId: randomUUID(), status: 'COUNTED', updatedAt: new Date().toISOString() } as const;
    await bus.publish(receipt);
    const operation = tracer.startSpan('operation');
    await context.with(trace.setSpan(ROOT_CONTEXT, operation), () => bus.publish(receipt));
    operation.end();
    const sends = recorder.spans().filter((span) => span.name === SPAN_NAMES.busSend);
    assert.equal(sends.length, 1);
    const [send] = sends;
    assert.equal(send?.kind, SpanKind.PRODUCER);
    assert.equal(send?.parentSpanContext?.spanId, operation.spanContext().spanId);
    assert.equal(send?.attributes[ATTR.MESSAGING_SYSTEM], 'redis');
    assert.equal(send?.attributes[ATTR.MESSAGING_DESTINATION_NAME], `${prefix}bus:receipt`);
    assert.equal(send?.attributes[ATTR.MESSAGING_OPERATION_TYPE], 'send');
    // Receipts carry no traceparent: handled without a span, in no trace.
    await waitFor(() => received.length === 2, { what: 'both receipts' });
    assert.deepEqual(received, ['none', 'none']);
    assert.equal(recorder.spans().filter((span) => span.name === SPAN_NAMES.busProcess).length, 0);
  });

  it('runs handlers of messages without a traceparent in no trace, even on a connection a request opened', async () => {
    // The worst case of a lazily started subscriber: its connection made while a request's span is
    // active. Messages arrive on that connection's socket, which AsyncLocalStorage ties to the
    // request's context, so every later message's handlers would run in that request's trace.
    const request = tracer.startSpan('request');
    const seen: string[] = [];
    const lazy = await context.with(trace.setSpan(ROOT_CONTEXT, request), async () => {
      const opened = createRedisEventBus({ publisher, subscriber: publisher.duplicate(), prefix, logger: { warn: () => {}, error: () => {} } });
      await opened.subscribe('receipt', () => {
        seen.push(trace.getSpanContext(context.active())?.traceId ?? 'none');
      });
      return opened;
    });
    request.end();
    try {
      await bus.publish({ type: 'receipt', receiptId: randomUUID(), pollId: randomUUID(), status: 'COUNTED', updatedAt: new Date().toISOString() });
      await waitFor(() => seen.length === 1, { what: 'the receipt' });
      assert.deepEqual(seen, ['none']);
    } finally {
      await lazy.close();
    }
  });

  it("leaves a channel's shared SUBSCRIBE out of the trace of the request that subscribed first", async () => {
    const shared = createRedisEventBus({ publisher, subscriber: publisher.duplicate(), prefix, logger: { warn: () => {}, error: () => {} } });
    try {
      recorder.reset();
      const request = tracer.startSpan('request');
      await context.with(trace.setSpan(ROOT_CONTEXT, request), () => shared.subscribe('poll-status', () => {}));
      request.end();
      const inRequest = recorder.spans().filter((span) => traceIdOf(span) === request.spanContext().traceId);
      assert.deepEqual(
        inRequest.map((span) => span.name),
        ['request'],
      );
    } finally {
      await shared.close();
    }
  });

  it('handles a message with a traceparent in a `process bus` consumer span, child of that context', async () => {
    recorder.reset();
    received = [];
    const parent = remoteParent();
    const pollId = randomUUID();
    await bus.publish({
      type: 'tally',
      pollId,
      version: 1,
      totalVotes: 0,
      options: [],
      votesPerSecond: 0,
      updatedAt: new Date().toISOString(),
      committedAtMs: Date.now(),
      traceparent: parent.traceparent,
    });
    const process = await waitFor(() => recorder.spans().find((span) => span.name === SPAN_NAMES.busProcess), { what: 'the process span' });
    assert.equal(process.kind, SpanKind.CONSUMER);
    assert.equal(traceIdOf(process), parent.traceId);
    assert.equal(process.parentSpanContext?.spanId, parent.spanId);
    assert.equal(process.attributes[ATTR.MESSAGING_OPERATION_TYPE], 'process');
    assert.equal(process.attributes[ATTR.MESSAGING_DESTINATION_NAME], `${prefix}bus:tally`);
    assert.equal(process.attributes[ATTR.POLL_ID], pollId);
    assert.equal(process.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(received, [parent.traceId], 'the handler ran inside it');
  });
});
