// Late joiners of a deduplicated subscription: for a root field declared stateful (`replayFields`)
// a client joining a running upstream gets the latest state at once, then every later event in
// order; for any other field (a feed) it gets nothing until the next event.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { graphqlWsTransport, sseTransport } from './fixtures/subscriptions/test-clients.ts';

const TICKS = 'subscription Ticks($room: ID!) { ticks(room: $room) { n room { name } } }';
const SECRET = 'subscription Secret($room: ID!) { secretTicks(room: $room) { n viewer } }';

describe('subscription replay to late joiners', () => {
  let harness: Harness;
  const urls = () => ({ http: harness.url, ws: harness.wsUrl });
  const upstreamsFor = (room: string) => harness.service.stats().upstreams.filter((upstream) => upstream.key.includes(`"${room}"`));
  const subscribersOf = (room: string) => upstreamsFor(room).reduce((sum, upstream) => sum + upstream.subscribers, 0);
  const tick = (room: string, n: number) => ({ data: { ticks: { n, room: { name: `Room ${room}` } } } });

  before(async () => {
    // `ticks` is declared stateful; `secretTicks` is not (a feed). Unknown coordinates are ignored.
    harness = await startHarness({ limits: { maxConnectionsPerClient: 100 }, replayFields: ['Subscription.ticks', 'Subscription.noSuchField'] });
  });
  after(() => harness.close());

  it('sends a joiner of the same group the latest state at once, then every later event once', async () => {
    const first = await graphqlWsTransport.open(urls(), { query: TICKS, variables: { room: 'r1' } });
    // Before the upstream's first event there is nothing to replay.
    const early = await sseTransport.open(urls(), { query: TICKS, variables: { room: 'r1' } });
    await waitFor(() => harness.counter.active('r1') === 1 && subscribersOf('r1') === 2, { what: 'two subscribers on one upstream' });
    harness.counter.publish('r1', { n: 1 });
    harness.counter.publish('r1', { n: 2 });
    assert.deepEqual(await first.waitForResults(2), [tick('r1', 1), tick('r1', 2)]);
    assert.deepEqual(await early.waitForResults(2), [tick('r1', 1), tick('r1', 2)]);

    const late = await sseTransport.open(urls(), { query: TICKS, variables: { room: 'r1' } });
    assert.deepEqual(await late.waitForResults(1), [tick('r1', 2)], 'the latest state, not the first one');
    assert.equal(upstreamsFor('r1').length, 1);
    assert.equal(upstreamsFor('r1')[0]?.groups, 1);

    harness.counter.publish('r1', { n: 3 });
    assert.deepEqual(await late.waitForResults(2), [tick('r1', 2), tick('r1', 3)]);
    await first.waitForResults(3);
    assert.deepEqual(first.results, [tick('r1', 1), tick('r1', 2), tick('r1', 3)], 'earlier subscribers get nothing twice');
    await Promise.all([first.stop(), early.stop(), late.stop()]);
  });

  it('resolves the latest upstream event for a new resolution group on a running upstream', async () => {
    const first = await graphqlWsTransport.open(urls(), { query: TICKS, variables: { room: 'r2' } });
    await waitFor(() => harness.counter.active('r2') === 1, { what: 'the subgraph subscription' });
    harness.counter.publish('r2', { n: 7 });
    harness.counter.publish('r2', { n: 8 });
    await first.waitForResults(2);

    // Another document text (another group), same upstream operation and variables (same upstream).
    const joiner = await graphqlWsTransport.open(urls(), { query: `${TICKS} `, variables: { room: 'r2' } });
    assert.deepEqual(await joiner.waitForResults(1), [tick('r2', 8)]);
    assert.equal(upstreamsFor('r2').length, 1);
    assert.equal(upstreamsFor('r2')[0]?.groups, 2);
    assert.equal(harness.counter.active('r2'), 1, 'no second subgraph subscription');

    harness.counter.publish('r2', { n: 9 });
    assert.deepEqual(await joiner.waitForResults(2), [tick('r2', 8), tick('r2', 9)]);
    assert.deepEqual(await first.waitForResults(3), [tick('r2', 7), tick('r2', 8), tick('r2', 9)]);
    await Promise.all([first.stop(), joiner.stop()]);
  });

  it('writes next frames every payload length decodes (7-, 16- and 64-bit lengths), in order, with per-id envelopes', async () => {
    const query = 'subscription Blob($room: ID!) { ticks(room: $room) { n blob } }';
    const a = await graphqlWsTransport.open(urls(), { query, variables: { room: 'r4' } });
    const b = await graphqlWsTransport.open(urls(), { query, variables: { room: 'r4' } });
    await waitFor(() => subscribersOf('r4') === 2 && harness.counter.active('r4') === 1, { what: 'two subscribers on one subgraph subscription' });
    // Envelope + payload straddle 125/126 and 65,535/65,536 bytes for some of these.
    const sizes = [0, 60, 61, 62, 90, 65_450, 65_480, 65_500, 65_520, 70_000, 300_000];
    sizes.forEach((size, n) => harness.counter.publish('r4', { n, blob: 'é'.repeat(size >> 1) + 'x'.repeat(size & 1) }));
    for (const stream of [a, b]) {
      const results = await stream.waitForResults(sizes.length);
      assert.deepEqual(
        results.map((result) => (result.data?.['ticks'] as { n: number }).n),
        sizes.map((_, n) => n),
      );
      results.forEach((result, n) => {
        const size = sizes[n] ?? 0;
        assert.equal((result.data?.['ticks'] as { blob: string }).blob, 'é'.repeat(size >> 1) + 'x'.repeat(size & 1));
      });
    }
    await Promise.all([a.stop(), b.stop()]);
  });

  it('replays nothing for a field that is not declared stateful: the joiner waits for the next event', async () => {
    const alice = await harness.token({ subject: 'alice', role: 'voter' });
    const first = await graphqlWsTransport.open(urls(), { query: SECRET, variables: { room: 'r3' } }, alice);
    await waitFor(() => harness.counter.active('r3') === 1, { what: 'the subgraph subscription' });
    harness.counter.publish('r3', { n: 1 });
    await first.waitForResults(1);

    const joiner = await sseTransport.open(urls(), { query: SECRET, variables: { room: 'r3' } }, alice);
    await waitFor(() => subscribersOf('r3') === 2, { what: 'the joiner on the shared upstream' });
    harness.counter.publish('r3', { n: 2 });
    // Had the first event been replayed, it would be the joiner's first result.
    assert.deepEqual(await joiner.waitForResults(1), [{ data: { secretTicks: { n: 2, viewer: 'alice' } } }]);
    assert.deepEqual(
      (await first.waitForResults(2)).map((result) => result.data?.['secretTicks']),
      [
        { n: 1, viewer: 'alice' },
        { n: 2, viewer: 'alice' },
      ],
    );
    assert.equal(upstreamsFor('r3').length, 1);
    await Promise.all([first.stop(), joiner.stop()]);
  });
});
