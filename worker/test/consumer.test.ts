import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startConsumer, type Consumer, type ConsumerDeps } from '../src/consumer.ts';
import { ensureGroup, readGroup, readGroupStats } from '../src/stream.ts';
import { createHarness, seededRandom, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

function consumerDeps(name: string, overrides: Partial<ConsumerDeps['settings']> = {}): ConsumerDeps {
  return {
    ...h.applyDeps,
    settings: { ...h.applyDeps.settings, consumerName: name, batchSize: 50, blockMs: 100, claimIdleMs: 30_000, claimIntervalMs: 200, ...overrides },
  };
}

async function streamDrained(): Promise<boolean> {
  const stats = await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
  return stats.length === 0 && stats.pending === 0;
}

describe('consumer lifecycle', () => {
  it('runs, then stops once (stop twice is the same stop) and reports stopped', async () => {
    const consumer = await startConsumer(consumerDeps('lifecycle'));
    assert.equal(consumer.state().phase, 'running');
    const first = consumer.stop('test');
    const second = consumer.stop('again');
    assert.equal(consumer.state().phase, 'stopping');
    await Promise.all([first, second]);
    assert.equal(consumer.state().phase, 'stopped');
    await consumer.stop();
  });
});

describe('consumer: replicas and recovery', () => {
  it('two consumers on the same stream keep tallies exact', async () => {
    const poll = await h.createPoll(3);
    const random = seededRandom(42);
    const latest = new Map<string, string>();
    const a = await startConsumer(consumerDeps('replica-a'));
    const b = await startConsumer(consumerDeps('replica-b'));
    const seen = { a: 0, b: 0 };
    try {
      await h.enqueueRandomVotes(poll, { rounds: 8, perRound: 150, voterCount: 120, random, latest });
      await waitFor(streamDrained, { what: 'both consumers drain the stream', timeoutMs: 30_000 });
      seen.a = a.state().phase === 'running' ? (a.state() as { batches: number }).batches : 0;
      seen.b = b.state().phase === 'running' ? (b.state() as { batches: number }).batches : 0;
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const votes = await h.optionVotes(poll.id);
    for (const optionId of poll.optionIds) {
      assert.equal(votes.get(optionId) ?? 0, [...latest.values()].filter((id) => id === optionId).length, `votes of ${optionId}`);
    }
    assert.equal((await h.pollTally(poll.id))?.totalVotes, latest.size);
    assert.ok(seen.a > 0 && seen.b > 0, `both replicas applied batches (a=${seen.a}, b=${seen.b})`);
  });

  it("claims a dead consumer's pending entries and applies them", async () => {
    const poll = await h.createPoll(2);
    await ensureGroup(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
    const votes = await Promise.all(['v1', 'v2', 'v3'].map((voterId) => h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId })));
    // Consumer "dead" reads the entries and dies before acking them.
    const read = await readGroup(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup }, { consumer: 'dead', count: 100, from: '>' });
    assert.equal(read.length, 3);
    const claimedBefore = (await h.metrics.claimedEntries.get()).values[0]?.value ?? 0;

    let claimedBatches = 0;
    const rescuer: Consumer = await startConsumer({
      ...consumerDeps('rescuer', { claimIdleMs: 1, claimIntervalMs: 50 }),
      onBatch: (_report, source) => void (source === 'claimed' && (claimedBatches += 1)),
    });
    try {
      await waitFor(streamDrained, { what: 'claimed entries applied and acked' });
    } finally {
      await rescuer.stop();
    }
    assert.ok(claimedBatches >= 1);
    assert.equal((await h.optionVotes(poll.id)).get(poll.optionIds[0]!), 3);
    for (const { receiptId } of votes) assert.equal((await h.receipt(receiptId))['status'], 'COUNTED');
    assert.equal(((await h.metrics.claimedEntries.get()).values[0]?.value ?? 0) - claimedBefore, 3);
  });

  it('runs WORKER_CONCURRENCY lanes under suffixed names that share the work and keep tallies exact', async () => {
    const poll = await h.createPoll(3);
    const random = seededRandom(11);
    const latest = new Map<string, string>();
    const lanes = new Map<string, number>();
    const consumer = await startConsumer({
      ...consumerDeps('laned', { concurrency: 2 }),
      onBatch: (_report, _source, name) => void lanes.set(name, (lanes.get(name) ?? 0) + 1),
    });
    assert.deepEqual(consumer.consumerNames, ['laned#0', 'laned#1']);
    try {
      // A backlog first, so both lanes find work while the other commits.
      await h.enqueueRandomVotes(poll, { rounds: 10, perRound: 150, voterCount: 200, random, latest });
      await waitFor(streamDrained, { what: 'the lanes drain the stream', timeoutMs: 30_000 });
    } finally {
      await consumer.stop();
    }
    const votes = await h.optionVotes(poll.id);
    for (const optionId of poll.optionIds) {
      assert.equal(votes.get(optionId) ?? 0, [...latest.values()].filter((id) => id === optionId).length, `votes of ${optionId}`);
    }
    assert.equal((await h.pollTally(poll.id))?.totalVotes, latest.size);
    assert.deepEqual([...lanes.keys()].sort(), ['laned#0', 'laned#1'], `both lanes applied batches (${JSON.stringify([...lanes])})`);
    const state = consumer.state();
    assert.equal(state.phase, 'stopped');
    assert.equal(
      state.phase === 'stopped' && state.batches,
      [...lanes.values()].reduce((a, b) => a + b, 0),
    );
  });

  it("re-reads each lane's own pending entries at start, before the claim idle time", async () => {
    const poll = await h.createPoll(2);
    const stream = { key: h.keys.votes, group: h.keys.tallyGroup };
    await ensureGroup(h.redis, stream);
    const votes = await Promise.all(['p1', 'p2', 'p3', 'p4'].map((voterId) => h.castVote({ pollId: poll.id, optionId: poll.optionIds[1]!, voterId })));
    // An earlier life of lane 1 read them and died before acking.
    assert.equal((await readGroup(h.redis, stream, { consumer: 'reborn#1', count: 100, from: '>' })).length, 4);
    const sources: string[] = [];
    const consumer = await startConsumer({
      ...consumerDeps('reborn', { concurrency: 2 }),
      onBatch: (_report, source, name) => void sources.push(`${name}:${source}`),
    });
    try {
      await waitFor(streamDrained, { what: 'own pending entries applied and acked' });
    } finally {
      await consumer.stop();
    }
    assert.deepEqual(sources, ['reborn#1:own-pending']);
    assert.equal((await h.optionVotes(poll.id)).get(poll.optionIds[1]!), 4);
    for (const { receiptId } of votes) assert.equal((await h.receipt(receiptId))['status'], 'COUNTED');
  });

  it('finishes and acks the batches in flight of every lane when stopped', async () => {
    const poll = await h.createPoll(2);
    let batches = 0;
    const consumer = await startConsumer({ ...consumerDeps('stopper2', { concurrency: 2, batchSize: 10 }), onBatch: () => void (batches += 1) });
    await Promise.all(Array.from({ length: 200 }, (_, i) => h.castVote({ pollId: poll.id, optionId: poll.optionIds[i % 2]!, voterId: `t${i}` })));
    await waitFor(() => batches > 2, { what: 'batches flowing' });
    await consumer.stop();
    const stats = await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
    assert.equal(stats.pending, 0, 'nothing either lane read is left unacked (read-ahead included)');
    const total = (await h.pollTally(poll.id))?.totalVotes ?? 0;
    assert.equal(total + stats.length, 200, 'every vote is either counted or still waiting in the stream');
  });

  it('finishes and acks the batch in flight when stopped', async () => {
    const poll = await h.createPoll(2);
    let batches = 0;
    const consumer = await startConsumer({ ...consumerDeps('stopper'), onBatch: () => void (batches += 1) });
    await Promise.all(Array.from({ length: 40 }, (_, i) => h.castVote({ pollId: poll.id, optionId: poll.optionIds[i % 2]!, voterId: `s${i}` })));
    await waitFor(() => batches > 0, { what: 'a batch started' });
    await consumer.stop();
    const stats = await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
    assert.equal(stats.pending, 0, 'nothing the consumer committed is left unacked');
    const total = (await h.pollTally(poll.id))?.totalVotes ?? 0;
    assert.equal(total + stats.length, 40, 'every vote is either counted or still waiting in the stream');
  });
});

describe('consumer: batch interval', () => {
  // A stream of its own: entries other tests left unread would otherwise join these batches.
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h[Symbol.asyncDispose]();
  });
  const consumerDeps = (name: string, overrides: Partial<ConsumerDeps['settings']>): ConsumerDeps => ({
    ...h.applyDeps,
    settings: { ...h.applyDeps.settings, consumerName: name, batchSize: 50, blockMs: 100, claimIdleMs: 30_000, claimIntervalMs: 200, ...overrides },
  });
  const pendingCount = async (): Promise<number> => (await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup })).pending;

  it('applies the first small batch at once, then waits out the interval and takes what arrived into one batch', async () => {
    const poll = await h.createPoll(2);
    const optionId = poll.optionIds[0] ?? '';
    const sizes: number[] = [];
    const consumer = await startConsumer({
      ...consumerDeps('interval', { batchIntervalMs: 3000, batchSize: 100 }),
      onBatch: (report) => void sizes.push(report.entries),
    });
    try {
      const started = performance.now();
      await h.castVote({ pollId: poll.id, optionId, voterId: 'interval-0' });
      await waitFor(() => sizes.length === 1, { what: 'the first vote applied' });
      // Nothing came before it, so it did not wait for the interval.
      assert.ok(performance.now() - started < 3000, 'the first batch after a quiet spell starts at once');
      await h.castVote({ pollId: poll.id, optionId, voterId: 'interval-1' });
      // From the moment the lane holds this vote, it waits for the rest of the interval.
      await waitFor(async () => (await pendingCount()) >= 1, { what: 'the second vote to be read' });
      for (let i = 2; i < 5; i += 1) await h.castVote({ pollId: poll.id, optionId, voterId: `interval-${i}` });
      await waitFor(() => sizes.reduce((sum, size) => sum + size, 0) >= 5, { what: 'all five votes applied' });
      assert.deepEqual(sizes, [1, 4], 'one batch at once, then one for the vote read and the three that came while it waited');
      assert.equal((await h.optionVotes(poll.id)).get(optionId), 5);
    } finally {
      await consumer.stop();
    }
  });

  it('never holds back a full batch, and stopping cuts the wait of a partial one short', async () => {
    const poll = await h.createPoll(2);
    const optionId = poll.optionIds[1] ?? '';
    for (let i = 0; i < 10; i += 1) await h.castVote({ pollId: poll.id, optionId, voterId: `full-${i}` });
    const sizes: number[] = [];
    // An interval far beyond every deadline below: any wait for it would fail the test.
    const consumer = await startConsumer({
      ...consumerDeps('full', { batchIntervalMs: 60_000, batchSize: 5, blockMs: 50 }),
      onBatch: (report) => void sizes.push(report.entries),
    });
    let stopped = false;
    try {
      await waitFor(() => sizes.length === 2, { what: 'two full batches, back to back' });
      assert.deepEqual(sizes, [5, 5]);
      // Full batches take no slot, so the first partial one forms at once; the next one waits.
      await h.castVote({ pollId: poll.id, optionId, voterId: 'full-late-1' });
      await waitFor(() => sizes.length === 3, { what: 'the first partial batch' });
      await h.castVote({ pollId: poll.id, optionId, voterId: 'full-late-2' });
      await waitFor(async () => (await pendingCount()) === 1, { what: 'the second late vote to be read' });
    } finally {
      void consumer.stop().then(() => (stopped = true));
    }
    await waitFor(() => stopped, { what: 'stop to end the wait and finish the partial batch', timeoutMs: 5000 });
    assert.deepEqual(sizes, [5, 5, 1, 1]);
    assert.equal(await pendingCount(), 0);
    assert.equal((await h.optionVotes(poll.id)).get(optionId), 12);
  });

  it('forms one partial batch per interval across all lanes, not one per lane', async () => {
    const poll = await h.createPoll(2);
    const optionId = poll.optionIds[0] ?? '';
    const intervalMs = 1500;
    const applied: { lane: string; at: number }[] = [];
    const consumer = await startConsumer({
      ...consumerDeps('lanes', { batchIntervalMs: intervalMs, concurrency: 2 }),
      onBatch: (_report, _source, lane) => void applied.push({ lane, at: performance.now() }),
    });
    try {
      await h.castVote({ pollId: poll.id, optionId, voterId: 'lanes-0' });
      await waitFor(() => applied.length === 1, { what: 'the first vote applied at once' });
      // The lane that reads the second vote waits for its slot, so the third can only be read by the
      // other lane: two lanes, each holding a partial batch.
      await h.castVote({ pollId: poll.id, optionId, voterId: 'lanes-1' });
      await waitFor(async () => (await pendingCount()) === 1, { what: 'the second vote to be read' });
      await h.castVote({ pollId: poll.id, optionId, voterId: 'lanes-2' });
      await waitFor(async () => (await pendingCount()) === 2, { what: 'the third vote to be read by the other lane' });
      await waitFor(() => applied.length === 3, { what: 'both partial batches applied', timeoutMs: 15_000 });
    } finally {
      await consumer.stop();
    }
    const [first, second, third] = applied;
    assert.notEqual(second?.lane, third?.lane, 'each lane applied one of the partial batches');
    // With a clock per lane, the lane that had not formed the first batch would form its own at once,
    // and all three would be done about one interval after the first; shared slots take two.
    const spread = (third?.at ?? 0) - (first?.at ?? 0);
    assert.ok(spread >= 1.5 * intervalMs, `three partial batches within ${Math.round(spread)} ms`);
    assert.equal((await h.optionVotes(poll.id)).get(optionId), 3);
  });
});
