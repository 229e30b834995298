// A batch PostgreSQL refuses for the data of one of its entries must not block the group: the
// batch is bisected, the refused entries are REJECTED (receipt + audit, with PostgreSQL's message)
// and acked, everything else is applied. Text PostgreSQL cannot store never gets that far: the
// parser rejects it as a malformed entry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { REFUSED_REASON } from '../src/apply-batch.ts';
import { startConsumer } from '../src/consumer.ts';
import { commitIsolatingRefused } from '../src/isolate.ts';
import type { ParsedVote } from '../src/outcomes.ts';
import { readGroupStats } from '../src/stream.ts';
import type { CommitResult } from '../src/tally-sql.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
  // The injected fault: this database (the test's own) refuses ballots of voters named `poison…`,
  // the way a constraint added by a later migration would refuse rows written before it.
  await h.prisma.$executeRawUnsafe(`ALTER TABLE ballots ADD CONSTRAINT test_refuses_poison CHECK (voter_id NOT LIKE 'poison%')`);
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

async function streamDrained(): Promise<boolean> {
  const stats = await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
  return stats.length === 0 && stats.pending === 0;
}

describe('a batch PostgreSQL refuses', () => {
  it('rejects only the refused entries (receipt and audit carry the database message), acks them and applies the rest', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    const cast: { receiptId: string; voterId: string; optionId: string }[] = [];
    for (let i = 0; i < 40; i += 1) {
      const voterId = i === 7 || i === 29 ? `poison-${i}` : `good-${i}`;
      const optionId = i % 3 === 0 ? b : a;
      cast.push({ ...(await h.castVote({ pollId: poll.id, optionId, voterId })), voterId, optionId });
    }
    let refusedBatches = 0;
    const consumer = await startConsumer({
      ...h.applyDeps,
      settings: { ...h.applyDeps.settings, consumerName: 'poison', batchSize: 100, blockMs: 50, claimIdleMs: 30_000, claimIntervalMs: 1000, concurrency: 2 },
      onBatch: (report) => void (report.rejected > 0 && (refusedBatches += 1)),
    });
    try {
      await waitFor(streamDrained, { what: 'the batch with refused entries is applied and acked', timeoutMs: 20_000 });
    } finally {
      await consumer.stop();
    }
    assert.equal(refusedBatches, 1);
    const state = consumer.state();
    assert.equal(state.phase, 'stopped');

    const good = cast.filter((vote) => !vote.voterId.startsWith('poison'));
    const votes = await h.optionVotes(poll.id);
    assert.equal(votes.get(a) ?? 0, good.filter((vote) => vote.optionId === a).length);
    assert.equal(votes.get(b) ?? 0, good.filter((vote) => vote.optionId === b).length);
    assert.equal((await h.pollTally(poll.id))?.totalVotes, 38);

    for (const vote of cast) {
      const receipt = await h.receipt(vote.receiptId);
      if (!vote.voterId.startsWith('poison')) {
        assert.equal(receipt['status'], 'COUNTED', vote.voterId);
        continue;
      }
      assert.equal(receipt['status'], 'REJECTED', vote.voterId);
      assert.match(receipt['reason'] ?? '', new RegExp(`^${REFUSED_REASON}: .*violates check constraint "test_refuses_poison".*\\(SQLSTATE 23514\\)$`));
      const events = h.audit.events.filter((event) => event.subjectId === vote.receiptId);
      assert.deepEqual(
        events.map((event) => event.action),
        ['vote.rejected'],
        vote.voterId,
      );
      assert.equal(events[0]?.data?.['reason'], receipt['reason']);
    }
    assert.equal(((await h.metrics.votesApplied.get()).values.find((v) => v.labels['outcome'] === 'rejected')?.value ?? 0) >= 2, true);
  });

  it('rejects a voterId with a NUL character as malformed before it reaches SQL', async () => {
    const poll = await h.createPoll(2);
    const bad = await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'nul\u0000voter' });
    const fine = await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'fine' });
    const consumer = await startConsumer({
      ...h.applyDeps,
      settings: { ...h.applyDeps.settings, consumerName: 'nul', batchSize: 100, blockMs: 50, claimIdleMs: 30_000, claimIntervalMs: 1000 },
    });
    try {
      await waitFor(streamDrained, { what: 'both entries acked' });
    } finally {
      await consumer.stop();
    }
    const receipt = await h.receipt(bad.receiptId);
    assert.equal(receipt['status'], 'REJECTED');
    assert.match(receipt['reason'] ?? '', /^Malformed vote: vote stream entry: field "voterId" must not contain NUL \(U\+0000\) characters$/);
    const event = h.audit.events.find((e) => e.subjectId === bad.receiptId);
    assert.equal(event?.action, 'vote.rejected');
    assert.equal(event?.data?.['voterId'], undefined, 'the unstorable voterId is not copied into the audit event');
    assert.equal((await h.receipt(fine.receiptId))['status'], 'COUNTED');
  });
});

describe('commitIsolatingRefused', () => {
  const votes = Array.from({ length: 64 }, (_, i) => ({ id: `${i + 1}-0`, ms: BigInt(i + 1), seq: 0n, entry: { voterId: `v${i}` } }) as unknown as ParsedVote);
  const empty: CommitResult = { decided: [], replaced: [], tallies: [] };
  // Shaped as Prisma 7 with @prisma/adapter-pg reports a failed raw query.
  const prismaError = (code: string, message: string): Error =>
    Object.assign(new Error(`Raw query failed. Code: \`${code}\`.`), {
      code: 'P2010',
      meta: { driverAdapterError: { name: 'DriverAdapterError', cause: { originalCode: code, originalMessage: message } } },
    });

  it('bisects a data error down to the bad votes in O(log n) commits per bad vote', async () => {
    const bad = new Set(['v5', 'v40']);
    let calls = 0;
    const committed: string[] = [];
    const result = await commitIsolatingRefused(votes, async (part) => {
      calls += 1;
      if (part.some((vote) => bad.has(vote.entry.voterId))) throw prismaError('22003', 'value out of range');
      committed.push(...part.map((vote) => vote.entry.voterId));
      return { ...empty, decided: part.map((vote) => ({ vote, outcome: { status: 'COUNTED', change: 'new' } })) };
    });
    assert.deepEqual(
      result.refused.map((r) => [r.vote.entry.voterId, r.error.sqlState, r.error.message]),
      [
        ['v5', '22003', 'value out of range'],
        ['v40', '22003', 'value out of range'],
      ],
    );
    assert.equal(result.decided.length, 62);
    assert.deepEqual(
      committed.sort(),
      votes
        .map((v) => v.entry.voterId)
        .filter((id) => !bad.has(id))
        .sort(),
    );
    assert.ok(calls <= 1 + 2 * 2 * Math.log2(votes.length), `${calls} commits`);
  });

  it('keeps the newest tally of each poll across the split commits', async () => {
    let version = 0;
    const result = await commitIsolatingRefused(votes.slice(0, 4), async (part) => {
      if (part.length > 1) throw prismaError('23514', 'check');
      version += 1;
      return { ...empty, tallies: [{ pollId: 'p', version, totalVotes: version, options: [], votesPerSecond: 0, updatedAt: '' }] };
    });
    assert.deepEqual(
      result.tallies.map((t) => [t.pollId, t.version]),
      [['p', 4]],
    );
  });

  it('does not split on errors that are not the data’s fault (they are retried whole)', async () => {
    for (const error of [
      prismaError('42P01', 'relation "ballots" does not exist'),
      prismaError('40P01', 'deadlock detected'),
      new Error('Connection terminated unexpectedly'),
    ]) {
      let calls = 0;
      await assert.rejects(
        commitIsolatingRefused(votes, async () => {
          calls += 1;
          throw error;
        }),
        (thrown) => thrown === error,
      );
      assert.equal(calls, 1, error.message);
    }
  });
});
