// Votes that come back as replays (code `r`) touch no count, yet the tally of their poll may never
// have been published: the batch committed its fast statement, then its locking transaction failed
// and the lane re-applied the whole batch; or a bisection (isolate.ts) re-committed a part whose
// votes an earlier attempt had committed. A commit whose replays name a poll it has no tally for
// reads that poll's current tally, so the re-apply publishes it (consumers drop versions they have).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import type { PrismaClient } from '@votemesh/common/db/client';
import { applyBatch, commitBatch, settleBatch } from '../src/apply-batch.ts';
import { readPollTally } from '../src/tally-read.ts';
import { createHarness, voteEntry, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

/** The same client, except that every interactive transaction fails before it starts (a timeout, a connection blip). */
function failingTransactions(prisma: PrismaClient): PrismaClient {
  return new Proxy(prisma, {
    get(target, property, receiver) {
      if (property === '$transaction') return () => Promise.reject(new Error('simulated: Transaction API error: Transaction already closed'));
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('tallies of polls changed only by replayed votes', () => {
  it('are published when the locking half of a batch failed after its fast statement committed', async () => {
    const p1 = await h.createPoll(2);
    const p2 = await h.createPoll(2);
    await applyBatch(h.applyDeps, [voteEntry('1000-0', { pollId: p1.id, optionId: p1.optionIds[0] as string, voterId: 'v1' })]);
    const batch = [
      voteEntry('2000-0', { pollId: p1.id, optionId: p1.optionIds[1] as string, voterId: 'v1' }), // loses its ballot race
      voteEntry('2000-1', { pollId: p2.id, optionId: p2.optionIds[0] as string, voterId: 'v9' }), // committed by the fast statement
    ];

    // Another batch holds v1's ballot: the fast statement skips it (code L), and the locking
    // transaction that would decide it fails.
    await h.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM ballots WHERE poll_id = ${p1.id}::uuid AND voter_id = 'v1' FOR UPDATE`;
      await assert.rejects(commitBatch({ ...h.applyDeps, prisma: failingTransactions(h.prisma) }, batch), /simulated/);
    });
    assert.deepEqual(await h.pollTally(p2.id), { totalVotes: 1, version: 1 }, 'the fast statement committed p2');

    // The lane re-applies the batch: v9 is a replay now, v1 is decided as usual.
    const report = await settleBatch(h.applyDeps, await commitBatch(h.applyDeps, batch));
    const committed = await readPollTally(h.prisma, p2.id, 5);
    const published = report.tallies.find((tally) => tally.pollId === p2.id);
    assert.ok(published, 'the re-apply publishes the tally of p2');
    assert.deepEqual(
      { version: published.version, totalVotes: published.totalVotes, options: published.options },
      { version: 1, totalVotes: 1, options: committed?.options },
    );
    assert.deepEqual(report.tallies.map((tally) => tally.pollId).sort(), [p1.id, p2.id].sort(), 'one tally per poll');
  });

  it('are republished at their current version when a whole committed batch is replayed', async () => {
    const poll = await h.createPoll(2);
    const batch = [voteEntry('3000-0', { pollId: poll.id, optionId: poll.optionIds[0] as string, voterId: 'v1' })];
    const first = await applyBatch(h.applyDeps, batch);
    const again = await applyBatch(h.applyDeps, batch);
    assert.equal(again.applied, 0, 'the replay changes nothing');
    assert.deepEqual(
      again.tallies.map(({ pollId, version, totalVotes, options }) => ({ pollId, version, totalVotes, options })),
      first.tallies.map(({ pollId, version, totalVotes, options }) => ({ pollId, version, totalVotes, options })),
    );
  });

  // updatedAt is when the tally last changed and committedAt the commit that produced it (the
  // schema's PollResults): a republish changes neither. GetResults (Poll.results) reads both from
  // the tally row; the republished tally must say the same, however late the replay comes.
  it('keep the time of the commit that produced them, not the replay’s', async () => {
    const poll = await h.createPoll(2);
    const batch = [voteEntry('4000-0', { pollId: poll.id, optionId: poll.optionIds[0] as string, voterId: 'v1' })];
    const [original] = (await applyBatch(h.applyDeps, batch)).tallies;
    const stored = await readPollTally(h.prisma, poll.id, 5);
    assert.ok(original && stored);
    // The replay comes measurably later than the commit (the ms clock has moved on).
    await waitFor(() => Date.now() > original.committedAtMs + 5, { what: 'the clock to move past the commit' });
    const replayedAt = Date.now();
    const [republished] = (await applyBatch(h.applyDeps, batch)).tallies;
    assert.ok(republished);
    assert.equal(republished.updatedAt, original.updatedAt, 'updatedAt: when the tally last changed');
    assert.equal(republished.committedAtMs, stored.committedAtMs, 'committedAtMs: as GetResults says');
    assert.ok(republished.committedAtMs < replayedAt, 'not the re-apply time');
  });
});
