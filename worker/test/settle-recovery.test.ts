// A batch that committed in PostgreSQL but whose settle (receipts, XACK/XDEL, tally messages) did
// not reach Redis. In process the consumer settles that batch again until it succeeds; across a
// crash its entries replay as no-ops, and the ballot row remembers the receipt a change of mind
// replaced, so the replay still marks it SUPERSEDED. Either way: one audit event id per receipt.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createAuditClient } from '@votemesh/common/grpc/audit-client';
import { auditSpoolKey, createRedisAuditSpool, type AuditSpool } from '@votemesh/common/grpc/audit-spool';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { applyBatch, commitBatch, settleBatch } from '../src/apply-batch.ts';
import { receiptEventId } from '../src/audit-events.ts';
import { startConsumer, type BatchSource, type ConsumerDeps } from '../src/consumer.ts';
import { splitEntries } from '../src/outcomes.ts';
import { SettleError } from '../src/receipts.ts';
import { ensureGroup, readGroup, readGroupStats, type StreamRef } from '../src/stream.ts';
import { commitVotes, commitVotesLocked, type CommitOptions, type CommitResult } from '../src/tally-sql.ts';
import { createHarness, REDIS_URL, type Harness, type TestPoll } from './support/harness.ts';

let h: Harness;
let stream: StreamRef;
before(async () => {
  h = await createHarness();
  stream = { key: h.keys.votes, group: h.keys.tallyGroup };
  await ensureGroup(h.redis, stream);
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

function consumerDeps(name: string, overrides: Partial<ConsumerDeps> = {}): ConsumerDeps {
  return {
    ...h.applyDeps,
    settings: { ...h.applyDeps.settings, consumerName: name, batchSize: 50, blockMs: 50, claimIdleMs: 60_000, claimIntervalMs: 60_000 },
    ...overrides,
  };
}

async function streamDrained(): Promise<boolean> {
  const stats = await readGroupStats(h.redis, stream);
  return stats.length === 0 && stats.pending === 0;
}

/** Casts the vote and applies it through a settled batch of its own, as `consumer` of the group. */
async function castAndSettle(poll: TestPoll, voterId: string, optionId: string): Promise<string> {
  const { receiptId } = await h.castVote({ pollId: poll.id, optionId, voterId });
  const entries = await readGroup(h.redis, stream, { consumer: 'settled', count: 100, from: '>' });
  assert.equal(entries.length, 1);
  await applyBatch(h.applyDeps, entries);
  assert.equal((await h.receipt(receiptId))['status'], 'COUNTED');
  return receiptId;
}

function supersededEventIds(receiptId: string): Set<string> {
  return new Set(h.audit.events.filter((event) => event.action === 'vote.superseded' && event.subjectId === receiptId).map((event) => event.eventId));
}

async function expectCounts(poll: TestPoll, expected: readonly number[]): Promise<void> {
  const votes = await h.optionVotes(poll.id);
  assert.deepEqual(
    poll.optionIds.map((id) => votes.get(id) ?? 0),
    expected,
  );
  assert.equal(
    (await h.pollTally(poll.id))?.totalVotes,
    expected.reduce((a, b) => a + b, 0),
  );
}

async function ballotOf(poll: TestPoll, voterId: string) {
  return h.prisma.ballot.findUnique({ where: { pollId_voterId: { pollId: poll.id, voterId } } });
}

describe('a change of mind committed without a settle (crash between commit and settle)', () => {
  it('is settled by the replay: the old receipt ends SUPERSEDED with the audit event id it would have had', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    const oldReceipt = await castAndSettle(poll, 'v1', a);

    const change = await h.castVote({ pollId: poll.id, optionId: b, voterId: 'v1' });
    // The crashed lane read the change and committed it; its settle never ran.
    const entries = await readGroup(h.redis, stream, { consumer: 'crashed#0', count: 100, from: '>' });
    assert.equal(entries.length, 1);
    const committed = await commitBatch(h.applyDeps, entries);
    assert.deepEqual(
      committed.result.replaced.map((old) => old.receiptId),
      [oldReceipt],
    );
    assert.equal((await h.receipt(oldReceipt))['status'], 'COUNTED', 'nothing reached Redis');
    const ballot = await ballotOf(poll, 'v1');
    assert.deepEqual(
      { receipt: ballot?.receiptId, replacedReceipt: ballot?.replacedReceiptId, replacedOption: ballot?.replacedOptionId },
      { receipt: change.receiptId, replacedReceipt: oldReceipt, replacedOption: a },
      'the ballot remembers what the change replaced',
    );

    // The next life of the lane re-reads its own pending entries; the replay is a no-op in PostgreSQL.
    const sources: BatchSource[] = [];
    const consumer = await startConsumer(consumerDeps('crashed', { onBatch: (_report, source) => void sources.push(source) }));
    try {
      await waitFor(streamDrained, { what: 'the replayed change acked' });
    } finally {
      await consumer.stop();
    }
    assert.deepEqual(sources, ['own-pending']);
    const old = await h.receipt(oldReceipt);
    assert.deepEqual({ status: old['status'], reason: old['reason'] }, { status: 'SUPERSEDED', reason: 'Replaced by a newer vote' });
    assert.equal((await h.receipt(change.receiptId))['status'], 'COUNTED');
    await expectCounts(poll, [0, 1]);
    assert.equal((await h.pollTally(poll.id))?.version, 2, 'the replay changed no counts');
    assert.deepEqual(supersededEventIds(oldReceipt), new Set([receiptEventId(oldReceipt, 'vote.superseded')]));
    const event = h.audit.events.find((e) => e.action === 'vote.superseded' && e.subjectId === oldReceipt);
    assert.deepEqual(event?.data, { voterId: 'v1', optionId: a, replacedBy: change.receiptId, reason: 'Replaced by a newer vote' });
  });

  it('re-marks the replaced receipt on every replay under one audit event id, recreating an expired hash complete', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    const oldReceipt = await castAndSettle(poll, 'v2', a);
    const oldCastAt = (await h.receipt(oldReceipt))['castAt'];
    await h.castVote({ pollId: poll.id, optionId: b, voterId: 'v2' });
    const entries = await readGroup(h.redis, stream, { consumer: 'twice', count: 100, from: '>' });
    await applyBatch(h.applyDeps, entries); // settled in full: receipts, ack, audit

    await h.redis.del(h.keys.receipt(oldReceipt)); // its TTL ran out
    const replay = await applyBatch(h.applyDeps, entries); // e.g. claimed from a replica that died after settling
    assert.deepEqual({ counted: replay.counted, applied: replay.applied }, { counted: 1, applied: 0 });
    const recreated = await h.receipt(oldReceipt);
    assert.deepEqual(
      { status: recreated['status'], pollId: recreated['pollId'], optionId: recreated['optionId'], voterId: recreated['voterId'] },
      { status: 'SUPERSEDED', pollId: poll.id, optionId: a, voterId: 'v2' },
    );
    assert.ok(oldCastAt !== undefined);
    assert.equal(recreated['castAt'], oldCastAt);
    assert.equal(h.audit.events.filter((e) => e.action === 'vote.superseded' && e.subjectId === oldReceipt).length, 2);
    assert.deepEqual(supersededEventIds(oldReceipt), new Set([receiptEventId(oldReceipt, 'vote.superseded')]));
    await expectCounts(poll, [0, 1]);
  });

  const commitOptions: CommitOptions = { windowSeconds: 5 };
  const paths: Record<'one statement' | 'locking path', (votes: Parameters<typeof commitVotes>[1]) => Promise<CommitResult>> = {
    'one statement': (votes) => commitVotes(h.prisma, votes, commitOptions),
    'locking path': (votes) => commitVotesLocked(h.prisma, votes, commitOptions),
  };
  for (const [changeBy, replayBy] of [
    ['one statement', 'locking path'],
    ['locking path', 'one statement'],
    ['locking path', 'locking path'],
  ] as const) {
    it(`remembers the replaced vote when changed by the ${changeBy} and answers it on a replay by the ${replayBy}`, async () => {
      const poll = await h.createPoll(3);
      const [a, b, c] = poll.optionIds as [string, string, string];
      await castAndSettle(poll, 'v3', a);
      const middle = await castAndSettle(poll, 'v3', b);
      await h.castVote({ pollId: poll.id, optionId: c, voterId: 'v3' });
      const { votes } = splitEntries(await readGroup(h.redis, stream, { consumer: 'paths', count: 100, from: '>' }));
      const [vote] = votes;
      assert.ok(vote);

      const changed = await paths[changeBy](votes);
      assert.deepEqual(changed.decided[0]?.outcome, { status: 'COUNTED', change: 'changed' });
      const ballot = await ballotOf(poll, 'v3');
      const middleCastAt = (await h.receipt(middle))['castAt'];
      assert.deepEqual(
        [ballot?.replacedReceiptId, ballot?.replacedOptionId, ballot?.replacedCastAt?.toISOString()],
        [middle, b, middleCastAt],
        'the last change replaced the middle vote (the first one was superseded by the change before)',
      );

      const replayed = await paths[replayBy](votes);
      assert.deepEqual(replayed.decided[0]?.outcome, { status: 'COUNTED', change: 'replay' });
      assert.deepEqual(replayed.replaced, changed.replaced);
      assert.deepEqual(
        replayed.replaced.map((old) => [old.receiptId, old.optionId, old.voterId, old.pollId, old.replacedBy]),
        [[middle, b, 'v3', poll.id, vote.entry.receiptId]],
      );
      // The replay changed no counts. commitVotes answers the poll's current tally again (its
      // version may never have been published), at the version the change committed.
      const tallyOf = ({ tallies }: CommitResult) => tallies.map(({ pollId, version, totalVotes, options }) => ({ pollId, version, totalVotes, options }));
      assert.deepEqual(tallyOf(replayed), replayBy === 'one statement' ? tallyOf(changed) : [], 'the replay changed no counts');
      await expectCounts(poll, [0, 0, 1]);
      // Committed here without a settle: ack it so the stream is drained for the next test.
      await h.redis.xack(stream.key, stream.group, vote.id);
      await h.redis.xdel(stream.key, vote.id);
    });
  }
});

/**
 * How a dropped connection fails a pipeline: before anything was sent, or after Redis ran the
 * commands (the reply was lost); `alternating` starts with the first.
 */
type PipelineFault = 'before-sending' | 'alternating';

/** A connection of its own whose next pipelines fail at exec. Readers are `duplicate()`s and do not inherit the fault. */
function createFlakyRedis(): { redis: Redis; failNext(count: number, fault: PipelineFault): void } {
  const redis = new Redis(REDIS_URL);
  const pipeline = redis.pipeline.bind(redis);
  let remaining = 0;
  let fault: PipelineFault = 'before-sending';
  let failed = 0;
  redis.pipeline = (commands) => {
    const commander = pipeline(commands);
    if (remaining > 0) {
      remaining -= 1;
      failed += 1;
      const replyLost = fault === 'alternating' && failed % 2 === 0;
      const exec = commander.exec.bind(commander);
      commander.exec = async () => {
        if (replyLost) await exec();
        throw new Error(replyLost ? 'simulated: connection lost before the reply' : 'simulated: connection lost before sending');
      };
    }
    return commander;
  };
  return {
    redis,
    failNext(count, how) {
      remaining = count;
      fault = how;
      failed = 0;
    },
  };
}

describe('a settle that fails after the commit (Redis unreachable for a while)', () => {
  async function settleRetries(): Promise<number> {
    return (await h.metrics.settleRetries.get()).values[0]?.value ?? 0;
  }

  it('is retried in process until it succeeds, before the next batch settles: the old receipt ends SUPERSEDED without any replay', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    const flaky = createFlakyRedis();
    const sources: BatchSource[] = [];
    const versions: number[] = [];
    const consumer = await startConsumer(
      consumerDeps('flaky', {
        redis: flaky.redis,
        onBatch: (report, source) => {
          sources.push(source);
          versions.push(...report.tallies.filter((tally) => tally.pollId === poll.id).map((tally) => tally.version));
        },
      }),
    );
    try {
      const first = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v4' });
      // The receipt is written before the XACK (receipts.ts): wait for the ack too, or the failures
      // armed below can land on the first batch's ack instead of the change's settle.
      await waitFor(async () => (await h.receipt(first.receiptId))['status'] === 'COUNTED' && (await streamDrained()), {
        what: 'the first vote settled and acked',
      });
      const retriesBefore = await settleRetries();

      flaky.failNext(3, 'alternating');
      const change = await h.castVote({ pollId: poll.id, optionId: b, voterId: 'v4' });
      await waitFor(async () => (await settleRetries()) > retriesBefore, { what: 'the settle of the change failing' });
      // Committed while the change is still settling; its settle must wait for the change's.
      const later = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v4-neighbour' });
      // A lost reply acks the entries before the settle succeeds: wait for the batch reports too.
      await waitFor(async () => sources.length === 3 && (await streamDrained()), { what: 'both batches settled after the retries', timeoutMs: 20_000 });
      assert.equal((await h.receipt(first.receiptId))['status'], 'SUPERSEDED');
      assert.equal((await h.receipt(change.receiptId))['status'], 'COUNTED');
      assert.equal((await h.receipt(later.receiptId))['status'], 'COUNTED');
      assert.equal((await settleRetries()) - retriesBefore, 3);
      assert.deepEqual(sources, ['new', 'new', 'new'], 'each batch settled once, nothing was replayed');
      assert.deepEqual(versions, [1, 2, 3], 'settled in commit order');
      const state = consumer.state();
      assert.equal(state.phase === 'running' ? state.lastError : state.phase, undefined, 'the lane is healthy again');
      await expectCounts(poll, [1, 1]);
      assert.deepEqual(supersededEventIds(first.receiptId), new Set([receiptEventId(first.receiptId, 'vote.superseded')]));
      assert.ok(!h.audit.events.some((e) => e.subjectId === change.receiptId && (e.data as { change?: string }).change === 'replay'));
    } finally {
      await consumer.stop();
      flaky.redis.disconnect();
    }
  });

  it('gives up when stopped; the next life replays the entries and still supersedes the old receipt', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    const flaky = createFlakyRedis();
    let oldReceipt: string;
    let change: { receiptId: string };
    const consumer = await startConsumer(consumerDeps('doomed', { redis: flaky.redis }));
    try {
      oldReceipt = (await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v5' })).receiptId;
      // As above: COUNTED is written before the XACK, so wait for the ack as well.
      await waitFor(async () => (await h.receipt(oldReceipt))['status'] === 'COUNTED' && (await streamDrained()), {
        what: 'the first vote settled and acked',
      });
      const retriesBefore = await settleRetries();
      flaky.failNext(Number.POSITIVE_INFINITY, 'before-sending');
      change = await h.castVote({ pollId: poll.id, optionId: b, voterId: 'v5' });
      await waitFor(async () => (await settleRetries()) > retriesBefore, { what: 'the settle failing and being retried' });
      assert.match((consumer.state() as { lastError?: string }).lastError ?? '', /settling a committed batch: simulated/);
    } finally {
      await consumer.stop();
      flaky.redis.disconnect();
    }
    const left = await readGroupStats(h.redis, stream);
    assert.equal(left.pending, 1, 'the committed change stays pending under the lane that gave up');
    assert.notEqual((await h.receipt(oldReceipt))['status'], 'SUPERSEDED');

    const sources: BatchSource[] = [];
    const reborn = await startConsumer(consumerDeps('doomed', { onBatch: (_report, source) => void sources.push(source) }));
    try {
      await waitFor(streamDrained, { what: 'the replayed change acked' });
    } finally {
      await reborn.stop();
    }
    assert.deepEqual(sources, ['own-pending']);
    assert.equal((await h.receipt(oldReceipt))['status'], 'SUPERSEDED');
    assert.equal((await h.receipt(change.receiptId))['status'], 'COUNTED');
    await expectCounts(poll, [0, 1]);
    assert.deepEqual(supersededEventIds(oldReceipt), new Set([receiptEventId(oldReceipt, 'vote.superseded')]));
  });
});

describe('a settle Redis refuses in part (a receipt script fails, the ack would not)', () => {
  async function publishErrors(): Promise<number> {
    return (await h.metrics.publishErrors.get()).values[0]?.value ?? 0;
  }

  it('acks nothing until every receipt is written, then settles the same batch whole', async () => {
    const poll = await h.createPoll(2);
    const [a] = poll.optionIds as [string, string];
    const ok = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v8' });
    const broken = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v9' });
    // A key of the wrong type makes the receipt script fail (WRONGTYPE), as a refused write at
    // maxmemory would; XACK and XDEL of the same batch would still succeed on their own.
    await h.redis.set(h.keys.receipt(broken.receiptId), 'not a hash');
    const entries = await readGroup(h.redis, stream, { consumer: 'refused', count: 100, from: '>' });
    assert.equal(entries.length, 2);
    const committed = await commitBatch(h.applyDeps, entries);
    const errorsBefore = await publishErrors();
    const eventsBefore = h.audit.events.length;

    await assert.rejects(settleBatch(h.applyDeps, committed), (error: unknown) => {
      assert.ok(error instanceof SettleError);
      assert.equal(error.step, 'receipts');
      assert.match(error.message, /WRONGTYPE/);
      return true;
    });
    const refused = await readGroupStats(h.redis, stream);
    assert.deepEqual({ pending: refused.pending, length: refused.length }, { pending: 2, length: 2 }, 'nothing acked or deleted');
    assert.equal((await publishErrors()) - errorsBefore, 1);
    // Recorded before the receipts were sent (their spool write travels with them): the decisions
    // are committed in PostgreSQL, so the events are true whether or not the receipts got written.
    const recordedIds = h.audit.events.slice(eventsBefore).map((event) => event.eventId);
    assert.deepEqual(new Set(recordedIds), new Set([receiptEventId(ok.receiptId, 'vote.counted'), receiptEventId(broken.receiptId, 'vote.counted')]));

    await h.redis.del(h.keys.receipt(broken.receiptId));
    await settleBatch(h.applyDeps, committed);
    assert.equal((await h.receipt(ok.receiptId))['status'], 'COUNTED');
    // Recreated complete from what the worker knows.
    assert.deepEqual(
      { status: (await h.receipt(broken.receiptId))['status'], optionId: (await h.receipt(broken.receiptId))['optionId'] },
      { status: 'COUNTED', optionId: a },
    );
    assert.ok(await streamDrained());
    // The retry records the same ids again (the real client holds an id once; the log keeps it once).
    assert.deepEqual(
      new Set(h.audit.events.slice(eventsBefore).map((event) => event.eventId)),
      new Set(recordedIds),
      'the retried settle records the same event ids',
    );
    await expectCounts(poll, [2, 0]);
  });
});

describe("the batch's audit spool write travels with its receipts", () => {
  it('is in the spool before the receipts pipeline answers, and the ack still waits for both', async () => {
    const poll = await h.createPoll(2);
    const [a] = poll.optionIds as [string, string];
    // The settle's connection holds its first pipeline (the receipts) until the test lets it go;
    // the spool is written on another connection, so only the order of the settle can delay it.
    const held = new Redis(REDIS_URL);
    const pipeline = held.pipeline.bind(held);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let receiptsSent = false;
    held.pipeline = (commands) => {
      const commander = pipeline(commands);
      if (!receiptsSent) {
        receiptsSent = true;
        const exec = commander.exec.bind(commander);
        commander.exec = async () => {
          await gate;
          return exec();
        };
      }
      return commander;
    };
    const spool = createRedisAuditSpool(h.redis, auditSpoolKey(h.prefix, 'overlap'));
    // The audit service is away (nothing listens on port 1): only the spool holds the event.
    const audit = createAuditClient({ address: '127.0.0.1:1', logger: h.logger, source: 'worker', spool, closeTimeoutMs: 50, spoolAdoptEveryMs: 60_000 });
    try {
      const cast = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v11' });
      const entries = await readGroup(h.redis, stream, { consumer: 'overlap', count: 100, from: '>' });
      assert.equal(entries.length, 1);
      const deps = { ...h.applyDeps, redis: held, audit };
      const committed = await commitBatch(deps, entries);

      const settled = settleBatch(deps, committed);
      await waitFor(async () => (await spool.size()) === 1, { what: 'the audit event spooled while the receipts are still held' });
      assert.ok(receiptsSent, 'the receipts pipeline was sent');
      assert.equal((await h.receipt(cast.receiptId))['status'], undefined, 'the receipt is not written yet');
      assert.equal((await readGroupStats(h.redis, stream)).pending, 1, 'not acked before the receipts are in');

      release();
      await settled;
      assert.equal((await h.receipt(cast.receiptId))['status'], 'COUNTED');
      assert.ok(await streamDrained());
      const members = await spool.load(0, 10, Date.now());
      assert.ok(members[0]?.includes(receiptEventId(cast.receiptId, 'vote.counted')));
    } finally {
      release();
      await audit.close();
      held.disconnect();
    }
  });
});

describe('a settle whose audit spool write fails (READONLY after a failover)', () => {
  it('is not acked by the retry until the batch audit events are really in the spool', async () => {
    const poll = await h.createPoll(2);
    const [a] = poll.optionIds as [string, string];
    const real = createRedisAuditSpool(h.redis, auditSpoolKey(h.prefix, 'worker'));
    // Two: the write that travels with the receipts, and the one persisted() tries again before the ack.
    let failSaves = 2;
    const spool: AuditSpool = {
      ...real,
      async save(members) {
        if (failSaves > 0) {
          failSaves -= 1;
          throw new Error("READONLY You can't write against a read only replica.");
        }
        await real.save(members);
      },
    };
    // The audit service is away (nothing listens on port 1): events stay unconfirmed, so only the
    // spool can make them durable.
    const audit = createAuditClient({ address: '127.0.0.1:1', logger: h.logger, source: 'worker', spool, closeTimeoutMs: 50, spoolAdoptEveryMs: 60_000 });
    try {
      const cast = await h.castVote({ pollId: poll.id, optionId: a, voterId: 'v10' });
      const entries = await readGroup(h.redis, stream, { consumer: 'spool', count: 100, from: '>' });
      assert.equal(entries.length, 1);
      const deps = { ...h.applyDeps, audit };
      const committed = await commitBatch(deps, entries);

      await assert.rejects(settleBatch(deps, committed), (error: unknown) => error instanceof SettleError && error.step === 'audit spool');
      assert.equal((await readGroupStats(h.redis, stream)).pending, 1, 'not acked');
      assert.equal(await real.size(), 0);

      // The pipeline settles the same batch again: the ack must wait for the event's ZADD.
      await settleBatch(deps, committed);
      assert.ok(await streamDrained());
      const members = await real.load(0, 10, Date.now());
      assert.equal(members.length, 1, 'the acked batch has its audit event in the spool');
      assert.ok(members[0]?.includes(receiptEventId(cast.receiptId, 'vote.counted')));
    } finally {
      await audit.close();
    }
  });
});
