// Trace context through a subscription: client ⇢ (link) gateway `gateway.upstream.subscribe`, the
// root of the shared upstream's own trace → the subgraph's graphql-ws operation. The SDK runs in this process with an in-memory exporter, so the
// gateway's spans and the test subgraph's (which wraps its graphql-ws options in withTraceContext,
// like the real subgraphs) land in one place.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ATTR, SPAN_NAMES } from '@votemesh/common/telemetry/names';
import { startSpanRecorder, type ReadableSpan } from '@votemesh/common/testing/span-recorder';
import { waitFor } from '@votemesh/common/testing/wait-for';

const recorder = await startSpanRecorder('votemesh-gateway-test');
// Everything that loads graphql, http or ws comes after the SDK.
const { startHarness } = await import('./fixtures/subscriptions/harness.ts');
const { sseTransport, WsTestClient } = await import('./fixtures/subscriptions/test-clients.ts');
type Harness = Awaited<ReturnType<typeof startHarness>>;

const TICKS = 'subscription Ticks($room: ID!) { ticks(room: $room) { n room { name } } }';

interface ClientSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

function clientSpan(): ClientSpan {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** Upstream spans that link to a span of `traceId` (the client subscription that opened them). */
function upstreamSpansLinkedTo(traceId: string): ReadableSpan[] {
  return recorder.spans().filter((span) => span.name === SPAN_NAMES.upstreamSubscribe && span.links.some((link) => link.context.traceId === traceId));
}

/** The upstream span `client` opened, once it ended (the upstream closed). */
function endedUpstreamSpan(client: ClientSpan): Promise<ReadableSpan> {
  return waitFor(() => upstreamSpansLinkedTo(client.traceId)[0], { what: `the ${SPAN_NAMES.upstreamSubscribe} span linked to trace ${client.traceId}` });
}

/** The client's span has no span of the gateway or subgraph below it: the upstream is not its. */
function assertOwnTrace(upstream: ReadableSpan, client: ClientSpan): void {
  assert.equal(upstream.parentSpanContext, undefined, 'the upstream span is the root of its own trace');
  assert.notEqual(upstream.spanContext().traceId, client.traceId);
  assert.deepEqual(
    recorder
      .spans()
      .filter((span) => span.spanContext().traceId === client.traceId)
      .map((span) => span.name),
    [],
    "nothing of the shared upstream (its span, its socket's upgrade, the subgraph's work) is in the client's trace",
  );
}

/** Spans whose parent is `span` (the remote parent of the subgraph's spans is the upstream span). */
function childrenOf(span: ReadableSpan): ReadableSpan[] {
  const { traceId, spanId } = span.spanContext();
  return recorder.spans().filter((candidate) => candidate.spanContext().traceId === traceId && candidate.parentSpanContext?.spanId === spanId);
}

describe('subscription tracing through the gateway', () => {
  let harness: Harness;
  const urls = () => ({ http: harness.url, ws: harness.wsUrl });

  before(async () => {
    harness = await startHarness();
  });
  after(async () => {
    await harness.close();
    await recorder.shutdown();
  });

  it("links the upstream span to the connection_init traceparent; subgraph parse, validate and per-event execution under the upstream's own trace", async () => {
    const client = clientSpan();
    const socket = await WsTestClient.connect(harness.wsUrl);
    await socket.init({ traceparent: client.traceparent });
    socket.subscribe('1', { query: TICKS, variables: { room: 't1' } });
    await waitFor(() => harness.counter.active('t1') === 1, { what: 'the subgraph subscription' });
    harness.counter.publish('t1', { n: 1 });
    await socket.waitFor((message) => message.id === '1' && message.type === 'next', 'the event');
    socket.complete('1');

    const upstream = await endedUpstreamSpan(client);
    assert.deepEqual(
      upstream.links.map((link) => link.context.spanId),
      [client.spanId],
      "the upstream span links to the client's span",
    );
    assertOwnTrace(upstream, client);
    assert.equal(upstream.kind, SpanKind.CLIENT);
    assert.equal(upstream.attributes[ATTR.SUBGRAPH_NAME], 'counter');
    assert.equal(upstream.attributes[ATTR.GRAPHQL_OPERATION_TYPE], 'subscription');
    assert.match(String(upstream.attributes[ATTR.GRAPHQL_OPERATION_NAME]), /^Ticks__counter__\d+$/);
    assert.equal(upstream.status.code, SpanStatusCode.UNSET);

    // The subgraph ran the operation under the context it received in `subscribe` extensions.
    const below = await waitFor(
      () => {
        const children = childrenOf(upstream);
        return children.some((span) => span.name.startsWith('subscription ')) ? children : undefined;
      },
      { what: "the subgraph's spans under the upstream span" },
    );
    const names = below.map((span) => span.name);
    assert.ok(names.includes('graphql.parse') && names.includes('graphql.validate'), names.join(', '));
    assert.equal(
      names.filter((name) => name === `subscription ${String(upstream.attributes[ATTR.GRAPHQL_OPERATION_NAME])}`).length,
      1,
      `one execution per event: ${names.join(', ')}`,
    );
    socket.close();
  });

  it("prefers the operation's own extensions over the connection's, and gives a shared upstream one span", async () => {
    const connection = clientSpan();
    const operation = clientSpan();
    const socket = await WsTestClient.connect(harness.wsUrl);
    await socket.init({ traceparent: connection.traceparent });
    socket.subscribe('own', { query: TICKS, variables: { room: 't2' }, extensions: { traceparent: operation.traceparent } });
    await waitFor(() => harness.counter.active('t2') === 1, { what: 'the subgraph subscription' });
    // A second client of the same upstream joins it: no new upstream subscription, no new span.
    const joining = clientSpan();
    const second = await WsTestClient.connect(harness.wsUrl);
    await second.init({ traceparent: joining.traceparent });
    second.subscribe('joined', { query: TICKS, variables: { room: 't2' } });
    await waitFor(() => harness.service.stats().upstreams.some((upstream) => upstream.key.includes('"t2"') && upstream.subscribers === 2), {
      what: 'two subscribers',
    });
    socket.close();
    second.close();

    const upstream = await endedUpstreamSpan(operation);
    assert.equal(upstream.links[0]?.context.spanId, operation.spanId);
    assertOwnTrace(upstream, operation);
    assert.deepEqual(upstreamSpansLinkedTo(connection.traceId), [], 'the connection_init context lost to the operation');
    assert.deepEqual(upstreamSpansLinkedTo(joining.traceId), [], 'joining a shared upstream opens none and adds no link');
    assert.equal(harness.counter.active('t2'), 0);
  });

  it('takes the trace context of an SSE operation from its extensions', async () => {
    const client = clientSpan();
    const stream = await sseTransport.open(urls(), { query: TICKS, variables: { room: 't3' }, extensions: { traceparent: client.traceparent } });
    await waitFor(() => harness.counter.active('t3') === 1, { what: 'the subgraph subscription' });
    await stream.stop();
    const upstream = await endedUpstreamSpan(client);
    assert.equal(upstream.links[0]?.context.spanId, client.spanId);
    assert.equal(upstream.parentSpanContext, undefined);
  });

  it("takes an SSE stream's traceparent header: upstream span linked to the gateway's HTTP server span", async () => {
    const client = clientSpan();
    const abort = new AbortController();
    const response = await fetch(harness.url, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', traceparent: client.traceparent },
      body: JSON.stringify({ query: TICKS, variables: { room: 't6' } }),
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    await waitFor(() => harness.counter.active('t6') === 1, { what: 'the subgraph subscription' });
    abort.abort();
    const upstream = await endedUpstreamSpan(client);
    assert.equal(upstream.parentSpanContext, undefined);
    const server = recorder.spans().find((span) => span.spanContext().spanId === upstream.links[0]?.context.spanId);
    assert.equal(server?.kind, SpanKind.SERVER, 'the HTTP server span of the stream');
    assert.equal(server?.parentSpanContext?.spanId, client.spanId);
  });

  it('marks the upstream span failed when the subgraph refuses the subscription', async () => {
    const client = clientSpan();
    const socket = await WsTestClient.connect(harness.wsUrl);
    await socket.init({ traceparent: client.traceparent });
    // Public in the supergraph, refused by the subgraph without a forwarded identity.
    socket.subscribe('guarded', { query: 'subscription { guardedTicks(room: "t4") { n } }' });
    await socket.waitFor((message) => message.id === 'guarded' && message.type === 'complete', 'the refusal (errors, then complete)');
    assert.equal(
      (socket.of('guarded', 'next')[0]?.payload as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code,
      'IDENTITY_MISSING',
    );
    const upstream = await endedUpstreamSpan(client);
    assert.equal(upstream.status.code, SpanStatusCode.ERROR);
    assert.equal(upstream.attributes[ATTR.ERROR_TYPE], 'IDENTITY_MISSING');
    socket.close();
  });

  it('without any trace context the upstream span starts its own trace', async () => {
    recorder.reset();
    const socket = await WsTestClient.connect(harness.wsUrl);
    await socket.init();
    socket.subscribe('plain', { query: TICKS, variables: { room: 't5' } });
    await waitFor(() => harness.counter.active('t5') === 1, { what: 'the subgraph subscription' });
    socket.close();
    const upstream = await waitFor(() => recorder.spans().find((span) => span.name === SPAN_NAMES.upstreamSubscribe), { what: 'the upstream span' });
    assert.equal(upstream.parentSpanContext, undefined);
    assert.deepEqual(upstream.links, []);
    assert.ok(
      childrenOf(upstream).some((span) => span.name === 'graphql.parse'),
      "the subgraph's spans still join the upstream span",
    );
  });
});
