// Trace context through a subscription: client → gateway `gateway.subscription.start` (in the
// client's trace, for the start only) ⇢ (link) gateway `gateway.upstream.subscribe`, the root of the
// shared upstream's own trace → the subgraph's graphql-ws operation. The SDK runs in this process
// with an in-memory exporter, so the gateway's spans and the test subgraph's (which wraps its
// graphql-ws options in withTraceContext, like the real subgraphs) land in one place.
// subscriptions-start-span.test.ts has the start span's own cases (refusals, span kinds).
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

/** The gateway's start span of the subscription `client` made (under its span), once it ended. */
function startSpanOf(client: ClientSpan): Promise<ReadableSpan> {
  return waitFor(
    () =>
      recorder
        .spans()
        .find(
          (span) =>
            span.name === SPAN_NAMES.subscriptionStart && span.spanContext().traceId === client.traceId && span.parentSpanContext?.spanId === client.spanId,
        ),
    { what: `the ${SPAN_NAMES.subscriptionStart} span under ${client.spanId}` },
  );
}

/** The upstream span links to the gateway's start span, and that span is the child of the client's. */
async function assertLinkedToStart(upstream: ReadableSpan, client: ClientSpan): Promise<ReadableSpan> {
  const start = await startSpanOf(client);
  assert.deepEqual(
    upstream.links.map((link) => link.context.spanId),
    [start.spanContext().spanId],
    "the upstream span links to the gateway's span of the subscription that opened it",
  );
  assert.equal(start.attributes[ATTR.SUBSCRIPTION_UPSTREAM], 'opened');
  return start;
}

/** The client's trace holds the gateway's start span and nothing of the upstream. */
function assertOwnTrace(upstream: ReadableSpan, client: ClientSpan): void {
  assert.equal(upstream.parentSpanContext, undefined, 'the upstream span is the root of its own trace');
  assert.notEqual(upstream.spanContext().traceId, client.traceId);
  assert.deepEqual(
    recorder
      .spans()
      .filter((span) => span.spanContext().traceId === client.traceId)
      .map((span) => span.name),
    [SPAN_NAMES.subscriptionStart],
    "only the start is in the client's trace: nothing of the shared upstream (its span, its socket's upgrade, the subgraph's work)",
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
    // The start span ended with the start, the subscription still running.
    const start = await startSpanOf(client);
    assert.equal(start.kind, SpanKind.SERVER);
    assert.equal(start.attributes[ATTR.SUBSCRIPTION_OUTCOME], 'subscribed');
    assert.deepEqual(upstreamSpansLinkedTo(client.traceId), [], 'the upstream span is still open');
    socket.complete('1');

    const upstream = await endedUpstreamSpan(client);
    await assertLinkedToStart(upstream, client);
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
    await assertLinkedToStart(upstream, operation);
    assertOwnTrace(upstream, operation);
    assert.deepEqual(upstreamSpansLinkedTo(connection.traceId), [], 'the connection_init context lost to the operation');
    assert.deepEqual(upstreamSpansLinkedTo(joining.traceId), [], 'joining a shared upstream opens none and adds no link');
    const joined = await startSpanOf(joining);
    assert.equal(joined.attributes[ATTR.SUBSCRIPTION_UPSTREAM], 'joined', "the joining client's trace says it shared a running upstream");
    assert.equal(harness.counter.active('t2'), 0);
  });

  it('takes the trace context of an SSE operation from its extensions', async () => {
    const client = clientSpan();
    const stream = await sseTransport.open(urls(), { query: TICKS, variables: { room: 't3' }, extensions: { traceparent: client.traceparent } });
    await waitFor(() => harness.counter.active('t3') === 1, { what: 'the subgraph subscription' });
    await stream.stop();
    const upstream = await endedUpstreamSpan(client);
    const start = await assertLinkedToStart(upstream, client);
    assert.equal(start.kind, SpanKind.SERVER, "the client's span is its parent: the gateway serves the client's request");
    assert.equal(upstream.parentSpanContext, undefined);
  });

  it("takes an SSE stream's traceparent header: start span under the gateway's HTTP server span, upstream span linked to it", async () => {
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
    const start = recorder.spans().find((span) => span.spanContext().spanId === upstream.links[0]?.context.spanId);
    assert.equal(start?.name, SPAN_NAMES.subscriptionStart);
    assert.equal(start?.kind, SpanKind.INTERNAL, 'the HTTP server span already is the SERVER span of this request');
    const server = recorder.spans().find((span) => span.spanContext().spanId === start?.parentSpanContext?.spanId);
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

  it('without any trace context the start span starts a trace, and the upstream span one of its own linked to it', async () => {
    recorder.reset();
    const socket = await WsTestClient.connect(harness.wsUrl);
    await socket.init();
    socket.subscribe('plain', { query: TICKS, variables: { room: 't5' } });
    await waitFor(() => harness.counter.active('t5') === 1, { what: 'the subgraph subscription' });
    socket.close();
    const upstream = await waitFor(() => recorder.spans().find((span) => span.name === SPAN_NAMES.upstreamSubscribe), { what: 'the upstream span' });
    assert.equal(upstream.parentSpanContext, undefined);
    const [start, ...others] = recorder.spans().filter((span) => span.name === SPAN_NAMES.subscriptionStart);
    assert.ok(start && others.length === 0, 'one start span');
    assert.equal(start.parentSpanContext, undefined, 'the start span is a root');
    assert.equal(start.kind, SpanKind.SERVER);
    assert.notEqual(start.spanContext().traceId, upstream.spanContext().traceId);
    assert.deepEqual(
      upstream.links.map((link) => link.context.spanId),
      [start.spanContext().spanId],
    );
    assert.ok(
      childrenOf(upstream).some((span) => span.name === 'graphql.parse'),
      "the subgraph's spans still join the upstream span",
    );
  });
});
