// The gateway's `gateway.subscription.start` span of a client subscription (subscribe-telemetry.ts):
// in the client's trace, from the request to the subscription started or refused. Refusals are
// told to the client and recorded on the span as errors with their code; the variables' values
// never reach it. subscriptions-tracing.test.ts follows a started subscription on to its upstream.
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
const { WsTestClient } = await import('./fixtures/subscriptions/test-clients.ts');
type Harness = Awaited<ReturnType<typeof startHarness>>;
type Socket = Awaited<ReturnType<typeof WsTestClient.connect>>;

/** A client span: the `traceparent` a client puts in `connection_init`. */
function clientSpan() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** Every span of `traceId` once the socket's operation `id` was answered with an error. */
async function refusedSpans(socket: Socket, id: string, traceId: string): Promise<ReadableSpan[]> {
  await socket.waitFor((message) => message.id === id && message.type === 'error', 'the refusal');
  return recorder.spans().filter((span) => span.spanContext().traceId === traceId);
}

/** The span is marked failed with `code` (status, `error.type`, one exception event). */
function assertFailedWith(span: ReadableSpan, code: string): void {
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.attributes[ATTR.ERROR_TYPE], code);
  assert.equal(span.attributes[ATTR.SUBSCRIPTION_OUTCOME], 'rejected');
  assert.deepEqual(
    span.events.map((event) => event.name),
    ['exception'],
  );
}

describe('the gateway span of a subscription start', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => {
    await harness.close();
    await recorder.shutdown();
  });

  /** A graphql-ws connection whose `connection_init` carries `client`'s traceparent (and a voter's token). */
  async function connect(client: { traceparent: string }, role?: 'voter'): Promise<Socket> {
    const socket = await WsTestClient.connect(harness.wsUrl);
    const token = role ? await harness.token({ subject: 'tracing', role }) : undefined;
    await socket.init({ traceparent: client.traceparent, ...(token ? { authorization: `Bearer ${token}` } : {}) });
    return socket;
  }

  it('names the operation, its subgraph and root field, under the connection_init traceparent', async () => {
    const client = clientSpan();
    const socket = await connect(client);
    socket.subscribe('1', { query: 'subscription Ticks($room: ID!) { ticks(room: $room) { n } }', variables: { room: 's1' } });
    await waitFor(() => harness.counter.active('s1') === 1, { what: 'the subgraph subscription' });
    const start = await waitFor(
      () => recorder.spans().find((span) => span.name === SPAN_NAMES.subscriptionStart && span.spanContext().traceId === client.traceId),
      {
        what: 'the start span',
      },
    );
    assert.equal(start.parentSpanContext?.spanId, client.spanId);
    assert.equal(start.kind, SpanKind.SERVER);
    assert.deepEqual(start.attributes, {
      [ATTR.GRAPHQL_OPERATION_TYPE]: 'subscription',
      [ATTR.GRAPHQL_OPERATION_NAME]: 'Ticks',
      [ATTR.SUBGRAPH_NAME]: 'counter',
      [ATTR.SUBSCRIPTION_FIELD]: 'ticks',
      [ATTR.SUBSCRIPTION_OUTCOME]: 'subscribed',
      [ATTR.SUBSCRIPTION_UPSTREAM]: 'opened',
    });
    assert.equal(start.status.code, SpanStatusCode.UNSET);
    socket.close();
  });

  it('records an auth policy refusal as an error with its code, and opens no upstream (nor its span)', async () => {
    const client = clientSpan();
    const socket = await connect(client, 'voter');
    socket.subscribe('admin', { query: 'subscription AdminTicks { adminTicks(room: "s2") { n } }' });
    const spans = await refusedSpans(socket, 'admin', client.traceId);
    assert.deepEqual(
      spans.map((span) => span.name),
      [SPAN_NAMES.subscriptionStart],
    );
    const [start] = spans;
    assert.ok(start);
    assert.equal(start.parentSpanContext?.spanId, client.spanId);
    assertFailedWith(start, 'FORBIDDEN');
    assert.equal(start.status.message, 'adminTicks requires the admin scope; your role is voter');
    assert.equal(start.attributes[ATTR.SUBSCRIPTION_UPSTREAM], undefined);
    assert.equal(
      recorder.spans().filter((span) => span.name === SPAN_NAMES.upstreamSubscribe && span.links.some((link) => link.context.traceId === client.traceId))
        .length,
      0,
    );
    socket.close();
  });

  it('records refused variables by name, never their values', async () => {
    const client = clientSpan();
    const socket = await connect(client);
    const value = `voter-${randomBytes(4).toString('hex')}`;
    socket.subscribe('vars', { query: 'subscription Ticks($room: ID!) { ticks(room: $room) { n } }', variables: { room: { id: value } } });
    const [start] = await refusedSpans(socket, 'vars', client.traceId);
    assert.ok(start);
    assertFailedWith(start, 'BAD_USER_INPUT');
    assert.match(start.status.message ?? '', /\$room/);
    assert.ok(JSON.stringify(socket.of('vars', 'error')).includes(value), 'the client is told what was wrong with its value');
    assert.ok(!JSON.stringify([start.attributes, start.status, start.events]).includes(value), 'the span does not hold the value');
    socket.close();
  });

  it('records a subscription that fails validation; parse failures and queries get no start span', async () => {
    const client = clientSpan();
    const socket = await connect(client);
    socket.subscribe('invalid', { query: 'subscription Unknown { ticks(room: "s3") { noSuchField } }' });
    const [start, ...others] = await refusedSpans(socket, 'invalid', client.traceId);
    assert.ok(start && others.length === 0);
    assertFailedWith(start, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal(start.attributes[ATTR.GRAPHQL_OPERATION_NAME], 'Unknown');
    // Not known to be a subscription (or traced by the HTTP path the gateway runs queries on).
    socket.subscribe('unparsable', { query: 'subscription {' });
    socket.subscribe('query', { query: '{ __typename }' });
    await socket.waitFor((message) => message.id === 'unparsable' && message.type === 'error', 'the parse failure');
    await socket.waitFor((message) => message.id === 'query' && message.type === 'error', 'the refused query');
    assert.equal(recorder.spans().filter((span) => span.spanContext().traceId === client.traceId).length, 1);
    socket.close();
  });
});
