// Deduplication: identical upstream subscriptions share one subgraph subscription and one
// resolution per event; the upstream closes with its last subscriber.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { graphqlWsTransport, sseTransport, type TestStream } from './fixtures/subscriptions/test-clients.ts';

const TICKS = 'subscription Ticks($room: ID!) { ticks(room: $room) { n room { name } } }';
const SECRET = 'subscription Secret($room: ID!) { secretTicks(room: $room) { n viewer } }';

describe('subscription deduplication', () => {
  let harness: Harness;
  const urls = () => ({ http: harness.url, ws: harness.wsUrl });
  const upstreamsFor = (room: string) => harness.service.stats().upstreams.filter((upstream) => upstream.key.includes(`"${room}"`));

  before(async () => {
    harness = await startHarness({ limits: { maxConnectionsPerClient: 100 } });
  });
  after(() => harness.close());

  it('shares one upstream subscription and one resolution among 50 clients on both transports', async () => {
    const eventsBefore = await harness.metric('votemesh_gateway_subscription_events_total');
    const messagesBefore = await harness.metric('votemesh_gateway_subscription_messages_total');
    const streams: TestStream[] = await Promise.all(
      Array.from({ length: 50 }, (_, index) => (index % 2 === 0 ? graphqlWsTransport : sseTransport).open(urls(), { query: TICKS, variables: { room: 'd1' } })),
    );
    await waitFor(() => upstreamsFor('d1')[0]?.subscribers === 50, { what: '50 subscribers on the upstream' });
    assert.equal(upstreamsFor('d1').length, 1);
    assert.equal(upstreamsFor('d1')[0]?.groups, 1);
    await waitFor(() => harness.counter.active('d1') === 1, { what: 'the subgraph subscription' });
    assert.equal(await harness.metric('votemesh_gateway_upstream_subscriptions'), 1);
    assert.equal(await harness.metric('votemesh_gateway_subscriptions'), 50);
    assert.equal(await harness.metric('votemesh_gateway_ws_connections'), 25);
    assert.equal(await harness.metric('votemesh_gateway_sse_connections'), 25);

    harness.counter.publish('d1', { n: 42 });
    for (const stream of streams) {
      assert.deepEqual(await stream.waitForResults(1), [{ data: { ticks: { n: 42, room: { name: 'Room d1' } } } }]);
    }
    assert.equal((await harness.metric('votemesh_gateway_subscription_events_total')) - eventsBefore, 1);
    assert.equal((await harness.metric('votemesh_gateway_subscription_messages_total')) - messagesBefore, 50);

    await Promise.all(streams.map((stream) => stream.stop()));
    await waitFor(() => upstreamsFor('d1').length === 0 && harness.counter.active('d1') === 0, { what: 'the upstream to close after the last subscriber' });
    await waitFor(async () => (await harness.metric('votemesh_gateway_subscriptions')) === 0, { what: 'no client subscriptions left' });
  });

  it('keeps the upstream while any subscriber remains', async () => {
    const first = await graphqlWsTransport.open(urls(), { query: TICKS, variables: { room: 'd2' } });
    const second = await sseTransport.open(urls(), { query: TICKS, variables: { room: 'd2' } });
    // Events published before the subgraph holds the upstream subscription are not anyone's to get.
    await waitFor(() => upstreamsFor('d2')[0]?.subscribers === 2 && harness.counter.active('d2') === 1, {
      what: 'two subscribers on one subgraph subscription',
    });
    await first.stop();
    await waitFor(() => upstreamsFor('d2')[0]?.subscribers === 1, { what: 'one subscriber left' });
    harness.counter.publish('d2', { n: 1 });
    assert.deepEqual(await second.waitForResults(1), [{ data: { ticks: { n: 1, room: { name: 'Room d2' } } } }]);
    await second.stop();
    await waitFor(() => upstreamsFor('d2').length === 0, { what: 'the upstream to close' });
  });

  it('opens separate upstreams for different variables', async () => {
    const a = await graphqlWsTransport.open(urls(), { query: TICKS, variables: { room: 'd3a' } });
    const b = await graphqlWsTransport.open(urls(), { query: TICKS, variables: { room: 'd3b' } });
    await waitFor(
      () => upstreamsFor('d3a').length === 1 && upstreamsFor('d3b').length === 1 && harness.counter.active('d3a') === 1 && harness.counter.active('d3b') === 1,
      { what: 'one upstream per room, each subscribed at the subgraph' },
    );
    harness.counter.publish('d3b', { n: 5 });
    assert.deepEqual(await b.waitForResults(1), [{ data: { ticks: { n: 5, room: { name: 'Room d3b' } } } }]);
    assert.deepEqual(a.results, []);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('scopes non-public subscriptions by caller: one upstream per identity, shared by its connections', async () => {
    const alice = await harness.token({ subject: 'alice', role: 'voter' });
    const bob = await harness.token({ subject: 'bob', role: 'voter' });
    const streams = await Promise.all([
      graphqlWsTransport.open(urls(), { query: SECRET, variables: { room: 'd4' } }, alice),
      sseTransport.open(urls(), { query: SECRET, variables: { room: 'd4' } }, alice),
      graphqlWsTransport.open(urls(), { query: SECRET, variables: { room: 'd4' } }, bob),
    ]);
    await waitFor(() => upstreamsFor('d4').reduce((sum, upstream) => sum + upstream.subscribers, 0) === 3, { what: 'three subscribers' });
    assert.deepEqual(
      upstreamsFor('d4')
        .map((upstream) => [upstream.scope, upstream.subscribers])
        .sort(),
      [
        ['voter:alice', 2],
        ['voter:bob', 1],
      ],
    );
    await waitFor(() => harness.counter.active('d4') === 2, { what: 'two subgraph subscriptions' });
    harness.counter.publish('d4', { n: 9 });
    const viewers = await Promise.all(streams.map(async (stream) => (await stream.waitForResults(1))[0]?.data?.['secretTicks']));
    assert.deepEqual(viewers, [
      { n: 9, viewer: 'alice' },
      { n: 9, viewer: 'alice' },
      { n: 9, viewer: 'bob' },
    ]);
    await Promise.all(streams.map((stream) => stream.stop()));
  });
});
