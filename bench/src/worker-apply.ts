// Issue 2a: how fast the tally worker applies a backlog. A fresh database and a private Redis
// prefix; the `votes` stream is filled with a reproducible workload (XADD in pipelines), then the
// worker's own `startConsumer` runs with the production settings (worker/src/config.ts defaults;
// WORKER_CONCURRENCY from the environment when set)
// and the clock stops when the last batch is committed AND acknowledged. The result is checked
// against the workload's independently computed tally, ballots and receipt statuses.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AuditEventDraft, AuditSink } from '@votemesh/common/contracts/audit';
import { createRedisKeys, type RedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry } from '@votemesh/common/contracts/vote-entry';
import { createPrismaClient, type PrismaClient } from '@votemesh/common/db/client';
import { createLogger } from '@votemesh/common/logger';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createTestDatabase } from '@votemesh/common/testing/database';
import { deleteRedisPrefix } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { BATCH_STATEMENTS } from '../../worker/src/batch-sql.ts';
import { loadConfig } from '../../worker/src/config.ts';
import { startConsumer } from '../../worker/src/consumer.ts';
import { createWorkerMetrics } from '../../worker/src/metrics.ts';
import { readGroupStats } from '../../worker/src/stream.ts';
import { backendCpuSeconds, sum } from './pg-backends.ts';
import { cpuMeter } from './proc.ts';
import { buildWorkload, createPolls, type BenchPoll, type Workload } from './vote-workload.ts';

export interface ApplyRunOptions {
  readonly label: string;
  readonly entries: number;
  readonly polls: number;
  readonly changeShare: number;
  /** undefined → the production default from worker/src/config.ts. */
  readonly batchSize?: number;
  /** Consumers in the group (each is what one worker replica runs). @default 1 */
  readonly consumers?: number;
  readonly redisUrl: string;
  /** Deadline for the drain. */
  readonly timeoutMs: number;
}

export interface ApplyRunResult {
  readonly label: string;
  readonly entries: number;
  readonly ballots: number;
  readonly changes: number;
  readonly batchSize: number;
  readonly consumers: number;
  /** Lanes per consumer (WORKER_CONCURRENCY). */
  readonly concurrency: number;
  readonly batches: number;
  readonly fillSeconds: number;
  readonly applySeconds: number;
  readonly votesPerSecond: number;
  /** votes/s over the first and the last quarter of the entries: does the rate hold as tables grow? */
  readonly quarterRates: { readonly first: number; readonly last: number };
  readonly cpuSeconds: number;
  /**
   * CPU seconds during the apply of PostgreSQL (every process on the box), of the backends serving
   * this run's database alone, of Redis and of the whole machine.
   */
  readonly serviceCpuSeconds: { readonly postgres: number; readonly backends: number; readonly redis: number; readonly machine: number };
  readonly auditEvents: number;
  readonly checks: readonly string[];
}

export async function runApplyBenchmark(options: ApplyRunOptions): Promise<ApplyRunResult> {
  await using database = await createTestDatabase();
  // The worker's own statements prepared, as worker/src/main.ts does.
  const prisma = createPrismaClient(database.url, { preparedStatements: BATCH_STATEMENTS });
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null });
  await redis.connect();
  const prefix = `vmbench:${randomBytes(4).toString('hex')}:`;
  const keys = createRedisKeys(prefix);
  try {
    const polls = createPolls(options.polls);
    await insertPolls(prisma, polls);
    const workload = buildWorkload(polls, options.entries, options.changeShare);
    const fillSeconds = await fillStream(redis, keys, workload);

    // WORKER_CONCURRENCY (lanes per replica) may be set for the run; everything else is the default.
    const production = loadConfig({ WORKER_CONCURRENCY: process.env['WORKER_CONCURRENCY'] }, { pid: process.pid, isTty: false }).consumer;
    const settings = { ...production, ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }) };
    const consumerCount = options.consumers ?? 1;
    const audit = createCountingAuditSink();
    let applied = 0;
    let batches = 0;
    const progress: { applied: number; at: number }[] = [];
    let finished: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finished = resolve));

    const services = cpuMeter({});
    const backendsBefore = await backendCpuSeconds(prisma, database.name, new Map());
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const logger = createLogger({ service: 'bench-worker', level: 'warn' });
    const metrics = createWorkerMetrics(createMetricsRegistry('worker'));
    // Each replica has its own Redis connection, as separate worker processes would.
    const connections = Array.from({ length: consumerCount }, (_, index) => (index === 0 ? redis : redis.duplicate()));
    const consumers = await Promise.all(
      connections.map((connection, index) =>
        startConsumer({
          prisma,
          redis: connection,
          keys,
          audit,
          logger,
          metrics,
          settings: { ...settings, consumerName: `bench-${options.label}-${index}` },
          // Fires after a batch's receipts, XACK/XDEL and tally messages went out: the votes are applied AND acked.
          onBatch: (report) => {
            applied += report.entries;
            batches += 1;
            progress.push({ applied, at: performance.now() });
            if (applied >= workload.entries.length) finished();
          },
        }),
      ),
    );
    let applySeconds: number;
    try {
      await Promise.race([done, deadline(options.timeoutMs, () => `only ${applied} of ${workload.entries.length} entries applied`)]);
      applySeconds = (performance.now() - started) / 1000;
    } finally {
      await Promise.all(consumers.map((consumer) => consumer.stop('benchmark done')));
      for (const connection of connections.slice(1)) connection.disconnect();
    }
    console.log(`${options.label}: ${consumerCount} consumer(s) x ${settings.concurrency} lane(s) (WORKER_CONCURRENCY), batch size ${settings.batchSize}`);
    const cpu = process.cpuUsage(cpuBefore);
    const serviceCpu = services();
    const backends = sum((await backendCpuSeconds(prisma, database.name, backendsBefore)).values());
    const checks = await verify(prisma, redis, keys, workload, audit.count());
    return {
      label: options.label,
      entries: workload.entries.length,
      ballots: workload.ballots,
      changes: workload.changes,
      batchSize: settings.batchSize,
      consumers: consumerCount,
      concurrency: settings.concurrency,
      batches,
      fillSeconds,
      applySeconds,
      votesPerSecond: workload.entries.length / applySeconds,
      quarterRates: quarterRates(progress, started, workload.entries.length),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      serviceCpuSeconds: { postgres: serviceCpu['postgres'] ?? 0, backends, redis: serviceCpu['redis'] ?? 0, machine: serviceCpu['machine (all)'] ?? 0 },
      auditEvents: audit.count(),
      checks,
    };
  } finally {
    await deleteRedisPrefix(redis, prefix);
    redis.disconnect();
    await prisma.$disconnect();
  }
}

function quarterRates(progress: readonly { applied: number; at: number }[], started: number, total: number): { first: number; last: number } {
  const rate = (from: { applied: number; at: number }, to: { applied: number; at: number }): number => (to.applied - from.applied) / ((to.at - from.at) / 1000);
  const origin = { applied: 0, at: started };
  const firstEnd = progress.find((point) => point.applied >= total / 4) ?? origin;
  const lastStart = [...progress].reverse().find((point) => point.applied <= (total * 3) / 4) ?? origin;
  const end = progress.at(-1) ?? origin;
  return { first: rate(origin, firstEnd), last: rate(lastStart, end) };
}

export async function insertPolls(prisma: PrismaClient, polls: readonly BenchPoll[]): Promise<void> {
  for (const [index, poll] of polls.entries()) {
    await prisma.poll.create({
      data: {
        id: poll.id,
        question: `Benchmark poll ${index + 1}`,
        status: 'OPEN',
        createdBy: 'bench',
        options: { create: poll.optionIds.map((id, position) => ({ id, label: `Option ${position + 1}`, position })) },
      },
    });
  }
}

const FILL_PIPELINE = 5000;

/**
 * Leaves Redis as castVote would: every entry in the stream and, beside it, its PENDING receipt hash
 * (subgraphs/vote/src/votes/receipt-store.ts), so the worker settles receipts the way it does in
 * production (status update of an existing hash) rather than rebuilding missing ones.
 */
async function fillStream(redis: Redis, keys: RedisKeys, workload: Workload): Promise<number> {
  const started = performance.now();
  const castAt = new Date().toISOString();
  for (let start = 0; start < workload.entries.length; start += FILL_PIPELINE) {
    const pipeline = redis.pipeline();
    for (const entry of workload.entries.slice(start, start + FILL_PIPELINE)) {
      const receiptKey = keys.receipt(entry.receiptId);
      pipeline.hset(receiptKey, { pollId: entry.pollId, optionId: entry.optionId, voterId: entry.voterId, status: 'PENDING', castAt, updatedAt: castAt });
      pipeline.expire(receiptKey, 3600);
      pipeline.xadd(keys.votes, '*', ...encodeVoteEntry({ ...entry, castAt }));
    }
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
  return (performance.now() - started) / 1000;
}

/** The worker's audit events are counted, not sent: this measures the worker, not the audit service. */
function createCountingAuditSink(): AuditSink & { count(): number } {
  let count = 0;
  return {
    record: (_event: AuditEventDraft) => void (count += 1),
    flush: async () => undefined,
    close: async () => undefined,
    count: () => count,
  };
}

/** Everything must match exactly; a mismatch throws (a benchmark that counts wrong is worthless). */
async function verify(prisma: PrismaClient, redis: Redis, keys: RedisKeys, workload: Workload, auditEvents: number): Promise<string[]> {
  const stream = { key: keys.votes, group: keys.tallyGroup };
  const stats = await waitFor(
    async () => {
      const current = await readGroupStats(redis, stream);
      return current.pending === 0 && current.length === 0 && current;
    },
    { timeoutMs: 10_000, what: 'XPENDING = 0 and an empty stream' },
  );

  const rows = await prisma.$queryRaw<{ option_id: string; votes: bigint }[]>`SELECT option_id::text AS option_id, votes FROM option_tallies`;
  const actual = new Map(rows.map((row) => [row.option_id, Number(row.votes)]));
  for (const [optionId, expected] of workload.expectedVotes) {
    if ((actual.get(optionId) ?? 0) !== expected)
      throw new Error(`tally mismatch for option ${optionId}: worker ${actual.get(optionId) ?? 0}, expected ${expected}`);
  }
  const [ballots] = await prisma.$queryRaw<{ count: bigint }[]>`SELECT count(*) AS count FROM ballots`;
  const [totals] = await prisma.$queryRaw<{ total: bigint | null }[]>`SELECT sum(total_votes) AS total FROM poll_tallies`;
  if (Number(ballots?.count) !== workload.ballots) throw new Error(`ballots: ${ballots?.count}, expected ${workload.ballots}`);
  if (Number(totals?.total) !== workload.ballots) throw new Error(`poll_tallies total: ${totals?.total}, expected ${workload.ballots}`);

  let counted = 0;
  let superseded = 0;
  for (let start = 0; start < workload.entries.length; start += 10_000) {
    const chunk = workload.entries.slice(start, start + 10_000);
    const pipeline = redis.pipeline();
    for (const entry of chunk) pipeline.hget(keys.receipt(entry.receiptId), 'status');
    const results = (await pipeline.exec()) ?? [];
    chunk.forEach((entry, index) => {
      const status = results[index]?.[1];
      const expected = workload.finalReceipts.has(entry.receiptId) ? 'COUNTED' : 'SUPERSEDED';
      if (status !== expected) throw new Error(`receipt ${entry.receiptId}: ${String(status)}, expected ${expected}`);
      if (status === 'COUNTED') counted += 1;
      else superseded += 1;
    });
  }
  // One decision event per entry plus one per earlier COUNTED receipt that a newer vote replaced.
  if (auditEvents < workload.entries.length) throw new Error(`audit events: ${auditEvents}, expected at least ${workload.entries.length}`);
  return [
    `tallies of ${workload.expectedVotes.size} options equal the independently computed tally`,
    `${workload.ballots.toLocaleString('en-US')} ballots; poll_tallies total ${workload.ballots.toLocaleString('en-US')}`,
    `receipts: ${counted.toLocaleString('en-US')} COUNTED + ${superseded.toLocaleString('en-US')} SUPERSEDED, each as expected`,
    `stream: XPENDING ${stats.pending}, XLEN ${stats.length} (acked and trimmed)`,
  ];
}

function deadline(ms: number, why: () => string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${why()}`)), ms).unref());
}
