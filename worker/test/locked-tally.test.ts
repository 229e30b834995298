// The locking path (tally-sql.ts commitVotesLocked) meeting a concurrent writer of the same poll:
// the other writer holds the poll's tally row when the locking path bumps it. The tally the locking
// path returns (what settle publishes as the newest version) must be exactly the committed state
// that version names: its option counts sum to its total and match the database at that version.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { applyBatch } from '../src/apply-batch.ts';
import { BATCH_STATEMENTS, encodeVotes } from '../src/batch-sql.ts';
import { splitEntries, type ParsedVote } from '../src/outcomes.ts';
import type { StreamEntry } from '../src/stream.ts';
import { readPollTally } from '../src/tally-read.ts';
import { commitVotesLocked, type CommitResult } from '../src/tally-sql.ts';
import { createHarness, voteEntry, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

function parsed(...entries: StreamEntry[]): ParsedVote[] {
  return splitEntries(entries).votes;
}

async function statementsWaitingForLocks(harness: Harness): Promise<number> {
  const rows = await harness.prisma.$queryRaw<{ waiting: bigint }[]>`
    SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return Number(rows[0]?.waiting ?? 0);
}

/**
 * The race above: another replica's one-statement apply (v3 votes b) holds the poll's option and
 * tally rows until the locking path waits for them. The locking path decides v1 voting a again
 * (same option, newer entry): no option count of its own changes, only the poll's version and rate.
 * The published tally must be exactly the database state at its version.
 */
async function expectExactUnderConcurrentWriter(harness: Harness): Promise<void> {
  const poll = await harness.createPoll(3);
  const [a, b] = poll.optionIds as [string, string];
  await applyBatch(harness.applyDeps, [
    voteEntry('1000-0', { pollId: poll.id, optionId: a, voterId: 'v1' }),
    voteEntry('1000-1', { pollId: poll.id, optionId: b, voterId: 'v2' }),
  ]);

  let locked: Promise<CommitResult> | undefined;
  await harness.prisma.$transaction(
    async (tx) => {
      await tx.$queryRawUnsafe(BATCH_STATEMENTS[1] as string, encodeVotes(parsed(voteEntry('2000-0', { pollId: poll.id, optionId: b, voterId: 'v3' }))), 5);
      locked = commitVotesLocked(harness.prisma, parsed(voteEntry('3000-0', { pollId: poll.id, optionId: a, voterId: 'v1' })), { windowSeconds: 5 });
      // Never unhandled if the wait below fails.
      locked.catch(() => undefined);
      await waitFor(async () => (await statementsWaitingForLocks(harness)) > 0, { what: 'the locking path waits for the other writer' });
    },
    { timeout: 20_000 },
  );
  assert.ok(locked);
  const [published] = (await locked).tallies;
  const db = await readPollTally(harness.prisma, poll.id, 5);
  assert.ok(published && db);
  assert.deepEqual(
    { version: published.version, totalVotes: published.totalVotes, options: published.options },
    { version: 3, totalVotes: 3, options: db.options },
    'the published tally is the database state at its version',
  );
  assert.equal(db.version, 3);
  assert.equal(
    published.options.reduce((sum, option) => sum + option.votes, 0),
    published.totalVotes,
    'its option counts sum to its total',
  );
}

describe('locking path under a concurrent writer of the same poll', () => {
  it('returns the option counts of the version it returns, not those of its statement snapshot', async () => {
    await expectExactUnderConcurrentWriter(h);
  });

  it('does the same on a server whose default isolation is repeatable read', async () => {
    // A database of its own: the setting applies to every session opened on it afterwards, and the
    // harness's pool has not opened one yet. A client that does not set the session's default
    // isolation (the worker's does, WORKER_DATABASE_OPTIONS), so the transaction's own is tested.
    await using rr = await createHarness({ database: { preparedStatements: BATCH_STATEMENTS } });
    await rr.prisma.$executeRawUnsafe(`ALTER DATABASE "${rr.db.name}" SET default_transaction_isolation = 'repeatable read'`);
    // ALTER DATABASE … SET takes effect in new sessions only: a fresh pool sees it.
    await rr.prisma.$disconnect();
    const [session] = await rr.prisma.$queryRaw<{ default_transaction_isolation: string }[]>`SHOW default_transaction_isolation`;
    assert.equal(session?.default_transaction_isolation, 'repeatable read');
    await expectExactUnderConcurrentWriter(rr);
  });
});
