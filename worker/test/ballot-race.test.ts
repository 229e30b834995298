// The one-statement apply (batch-sql.ts) meeting a concurrent batch: another replica's transaction
// changes one ballot and inserts another while the statement waits for their row locks. The
// statement must leave those votes untouched, and the locking path must then decide them against
// what the other replica committed; the counts end exact and the tally returned is the final one.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { applyBatch } from '../src/apply-batch.ts';
import { createHarness, voteEntry, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

async function statementsWaitingForLocks(): Promise<number> {
  const rows = await h.prisma.$queryRaw<{ waiting: bigint }[]>`
    SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return Number(rows[0]?.waiting ?? 0);
}

describe('one-statement apply under a concurrent batch', () => {
  it('decides votes whose ballots changed meanwhile under row locks, and the counts stay exact', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    await applyBatch(h.applyDeps, [voteEntry('1000-0', { pollId: poll.id, optionId: a, voterId: 'v1' })]);

    const racesBefore = (await h.metrics.ballotRaces.get()).values[0]?.value ?? 0;
    const v1 = voteEntry('4000-0', { pollId: poll.id, optionId: a, voterId: 'v1' }); // newer than the other replica's v1
    const v2 = voteEntry('2000-1', { pollId: poll.id, optionId: a, voterId: 'v2' }); // older than the other replica's v2
    const v3 = voteEntry('4000-2', { pollId: poll.id, optionId: a, voterId: 'v3' }); // no race
    const otherReceipt = randomUUID();
    let applying: Promise<Awaited<ReturnType<typeof applyBatch>>> | undefined;

    // The other replica: v1 moves a → b at 3000-0, v2 is new on b at 3000-1, with its tallies, in one
    // transaction that stays open until our statement waits for its locks.
    await h.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`UPDATE ballots SET option_id = ${b}::uuid, receipt_id = ${otherReceipt}::uuid, stream_ms = 3000, stream_seq = 0
                           WHERE poll_id = ${poll.id}::uuid AND voter_id = 'v1'`;
        await tx.$executeRaw`INSERT INTO ballots (poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at)
                           VALUES (${poll.id}::uuid, 'v2', ${b}::uuid, ${randomUUID()}::uuid, 3000, 1, now())`;
        await tx.$executeRaw`UPDATE option_tallies SET votes = votes + CASE WHEN option_id = ${a}::uuid THEN -1 ELSE 2 END WHERE poll_id = ${poll.id}::uuid`;
        await tx.$executeRaw`INSERT INTO option_tallies (option_id, poll_id, votes) VALUES (${b}::uuid, ${poll.id}::uuid, 2) ON CONFLICT DO NOTHING`;
        await tx.$executeRaw`UPDATE poll_tallies SET total_votes = total_votes + 1, version = version + 1 WHERE poll_id = ${poll.id}::uuid`;
        applying = applyBatch(h.applyDeps, [v1, v2, v3]);
        await waitFor(async () => (await statementsWaitingForLocks()) > 0, { what: 'the batch statement waits for the other replica' });
      },
      { timeout: 20_000 },
    );
    assert.ok(applying);
    const report = await applying;

    assert.equal(((await h.metrics.ballotRaces.get()).values[0]?.value ?? 0) - racesBefore, 2, 'v1 and v2 went through the locking path');
    assert.deepEqual({ counted: report.counted, superseded: report.superseded }, { counted: 2, superseded: 1 });
    const votes = await h.optionVotes(poll.id);
    assert.deepEqual([votes.get(a) ?? 0, votes.get(b) ?? 0], [2, 1]);
    const tally = await h.pollTally(poll.id);
    assert.equal(tally?.totalVotes, 3);
    const reported = report.tallies.find((t) => t.pollId === poll.id);
    assert.deepEqual({ version: reported?.version, totalVotes: reported?.totalVotes }, { version: tally?.version, totalVotes: 3 });
    assert.deepEqual(
      reported?.options.map((o) => [o.optionId, o.votes]).sort(),
      [
        [a, 2],
        [b, 1],
      ].sort(),
    );

    assert.equal((await h.receipt(v1.receiptId))['status'], 'COUNTED');
    assert.equal((await h.receipt(v2.receiptId))['status'], 'SUPERSEDED');
    assert.equal((await h.receipt(v3.receiptId))['status'], 'COUNTED');
    assert.equal((await h.receipt(otherReceipt))['status'], 'SUPERSEDED', "the other replica's v1 receipt was replaced by ours");
  });
});
