// A vote counts only if it was cast before its poll's closesAt. castVote can accept a vote just
// after the close committed (it reads the poll through a short-lived cache), so the worker decides
// the rule from castAt, in both the one-statement fast path and the locking path. A vote cast
// before the close still counts when the batch is applied after it (a backlog), and a voter's vote
// cast after the close must not supersede their earlier one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyBatch } from '../src/apply-batch.ts';
import { splitEntries } from '../src/outcomes.ts';
import { commitVotesLocked } from '../src/tally-sql.ts';
import { createHarness, voteEntry, type Harness, type TestPoll } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

const CLOSED_REASON = /^POLL_NOT_OPEN: the poll closed before this vote was cast/;

/** Closes the poll as closePoll does (status CLOSED, closes_at = the moment of the close); returns that moment. */
async function closePoll(poll: TestPoll): Promise<Date> {
  const closesAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  await h.prisma.poll.update({ where: { id: poll.id }, data: { status: 'CLOSED', closesAt } });
  return closesAt;
}

/** v1 cast just before the close, then again (another option) exactly at it; v2 cast after it. */
function entriesAround(poll: TestPoll, closesAt: Date) {
  const [a, b] = poll.optionIds as [string, string];
  const at = (deltaMs: number): string => new Date(closesAt.getTime() + deltaMs).toISOString();
  return {
    before: voteEntry('1000-0', { pollId: poll.id, optionId: a, voterId: 'v1', castAt: at(-1) }),
    atClose: voteEntry('1000-1', { pollId: poll.id, optionId: b, voterId: 'v1', castAt: at(0) }),
    after: voteEntry('1000-2', { pollId: poll.id, optionId: a, voterId: 'v2', castAt: at(1000) }),
  };
}

async function expectCounts(poll: TestPoll, expected: readonly number[]): Promise<void> {
  const votes = await h.optionVotes(poll.id);
  assert.deepEqual(
    poll.optionIds.map((id) => votes.get(id) ?? 0),
    expected,
  );
  assert.equal((await h.pollTally(poll.id))?.totalVotes ?? 0, 1);
}

describe('votes cast at or after the poll closed', () => {
  it('fast path: counts the vote cast before closesAt, rejects the ones cast at or after it', async () => {
    const poll = await h.createPoll(2);
    const closesAt = await closePoll(poll);
    const e = entriesAround(poll, closesAt);

    const report = await applyBatch(h.applyDeps, [e.before, e.atClose, e.after]);
    assert.equal((await h.metrics.ballotRaces.get()).values[0]?.value ?? 0, 0, 'decided by the one statement');
    assert.deepEqual({ counted: report.counted, superseded: report.superseded, rejected: report.rejected }, { counted: 1, superseded: 0, rejected: 2 });
    await expectCounts(poll, [1, 0]);
    assert.equal((await h.receipt(e.before.receiptId))['status'], 'COUNTED', "v1's vote cast before the close wins over their later one");
    for (const late of [e.atClose, e.after]) {
      const receipt = await h.receipt(late.receiptId);
      assert.equal(receipt['status'], 'REJECTED');
      assert.match(receipt['reason'] ?? '', CLOSED_REASON);
    }

    // The statement for batches without a repeated voter decides it the same way.
    const alone = voteEntry('2000-0', { pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'v3', castAt: new Date(closesAt.getTime() + 5).toISOString() });
    const aloneReport = await applyBatch(h.applyDeps, [alone]);
    assert.equal(aloneReport.rejected, 1);
    assert.match((await h.receipt(alone.receiptId))['reason'] ?? '', CLOSED_REASON);
    await expectCounts(poll, [1, 0]);
  });

  it('locking path: the same rule, decided per vote before the newest entry per voter is chosen', async () => {
    const poll = await h.createPoll(2);
    const closesAt = await closePoll(poll);
    const e = entriesAround(poll, closesAt);

    const result = await commitVotesLocked(h.prisma, splitEntries([e.before, e.atClose, e.after]).votes, { windowSeconds: 5 });
    const outcomes = new Map(result.decided.map(({ vote, outcome }) => [vote.entry.receiptId, outcome]));
    assert.deepEqual(outcomes.get(e.before.receiptId), { status: 'COUNTED', change: 'new' });
    for (const late of [e.atClose, e.after]) {
      const outcome = outcomes.get(late.receiptId);
      assert.equal(outcome?.status, 'REJECTED');
      assert.match(outcome.status === 'REJECTED' ? outcome.reason : '', CLOSED_REASON);
    }
    await expectCounts(poll, [1, 0]);
    assert.equal(result.tallies[0]?.totalVotes, 1);
  });
});
