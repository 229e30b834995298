// The worker's transactions run under READ COMMITTED whatever the database's default says
// (tally-sql.ts WORKER_DATABASE_OPTIONS). The one-statement fast path has no `$transaction` to name
// a level on, so before the session default was set it ran at the server's default: on a database
// set to REPEATABLE READ, a batch that waited for another writer of the same poll's option rows was
// rolled back with a serialization failure (40001) and re-run, instead of working on the row the
// other writer committed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { applyBatch, commitBatch } from '../src/apply-batch.ts';
import { readPollTally } from '../src/tally-read.ts';
import { createHarness, voteEntry, type Harness } from './support/harness.ts';

async function onRepeatableReadDatabase(): Promise<Harness> {
  const h = await createHarness();
  await h.prisma.$executeRawUnsafe(`ALTER DATABASE "${h.db.name}" SET default_transaction_isolation = 'repeatable read'`);
  // ALTER DATABASE … SET takes effect in new sessions only: a fresh pool opens them.
  await h.prisma.$disconnect();
  return h;
}

async function statementsWaitingForLocks(h: Harness): Promise<number> {
  const rows = await h.prisma.$queryRaw<{ waiting: bigint }[]>`
    SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
  return Number(rows[0]?.waiting ?? 0);
}

async function serializationRetries(h: Harness): Promise<number> {
  const metric = await h.metrics.transactionRetries.get();
  return metric.values.filter((value) => value.labels['sqlstate'] === '40001').reduce((sum, value) => sum + value.value, 0);
}

describe('worker transaction isolation', () => {
  it('runs every statement at READ COMMITTED on a database whose default is REPEATABLE READ', async () => {
    await using h = await onRepeatableReadDatabase();
    const [plain] = await h.prisma.$queryRaw<{ transaction_isolation: string }[]>`SHOW transaction_isolation`;
    assert.equal(plain?.transaction_isolation, 'read committed', 'a statement outside $transaction');
    const [inside] = await h.prisma.$transaction((tx) => tx.$queryRaw<{ transaction_isolation: string }[]>`SHOW transaction_isolation`);
    assert.equal(inside?.transaction_isolation, 'read committed', 'an interactive transaction that names no level');
  });

  it('applies a batch that waited for another writer of the poll without a serialization failure', async () => {
    await using h = await onRepeatableReadDatabase();
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    await applyBatch(h.applyDeps, [voteEntry('1000-0', { pollId: poll.id, optionId: a, voterId: 'v1' })]);
    const retriesBefore = await serializationRetries(h);

    let committing: ReturnType<typeof commitBatch> | undefined;
    await h.prisma.$transaction(
      async (tx) => {
        // Another writer of the poll: it holds (and changes) the poll's option rows.
        await tx.$executeRaw`UPDATE option_tallies SET votes = votes WHERE poll_id = ${poll.id}::uuid`;
        committing = commitBatch(h.applyDeps, [voteEntry('2000-0', { pollId: poll.id, optionId: b, voterId: 'v2' })]);
        committing.catch(() => undefined);
        await waitFor(async () => (await statementsWaitingForLocks(h)) > 0, { what: 'the batch statement to wait for the option rows' });
      },
      { timeout: 20_000 },
    );
    assert.ok(committing);
    const committed = await committing;
    assert.equal(await serializationRetries(h), retriesBefore, 'no serialization failure, no re-run');
    const [tally] = committed.result.tallies;
    const stored = await readPollTally(h.prisma, poll.id, 5);
    assert.deepEqual(
      { version: tally?.version, totalVotes: tally?.totalVotes, options: tally?.options },
      { version: 2, totalVotes: 2, options: stored?.options },
    );
  });
});
