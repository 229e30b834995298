// A steady vote rate into one worker, as castVote at moderate load feeds it: what the worker and
// PostgreSQL spend per vote when batches are small, and how long a receipt takes to be final.
// A fresh database and a private Redis prefix; votes (a reproducible workload) are appended with
// their PENDING receipt hash, as castVote writes them, spread evenly over time (a tick every 2 ms).
// The worker runs in a child process (steady-worker.ts), so /proc gives its CPU alone. After a
// warm-up, CPU and batches are measured over a fixed window; then the generator stops, the stream
// drains and the tallies are checked against the workload's independently computed ones.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseBusMessage, receiptUpdatesOf } from '@votemesh/common/contracts/bus';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry } from '@votemesh/common/contracts/vote-entry';
import { createPrismaClient } from '@votemesh/common/db/client';
import { createTestDatabase } from '@votemesh/common/testing/database';
import { deleteRedisPrefix } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { readGroupStats } from '../../worker/src/stream.ts';
import { backendCpuSeconds, sum } from './pg-backends.ts';
import { cpuMeter } from './proc.ts';
import { summarize, type LatencySummary } from './report.ts';
import type { SteadyWorkerCounters } from './steady-worker.ts';
import { buildWorkload, createPolls } from './vote-workload.ts';
import { insertPolls } from './worker-apply.ts';

export interface SteadyRunOptions {
  readonly label: string;
  /** Votes per second. */
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The checkout whose worker runs (its worker/src and common/src). */
  readonly codeRoot: string;
  /** Worker environment on top of the defaults (e.g. BATCH_INTERVAL_MS). */
  readonly workerEnv: Readonly<Record<string, string>>;
  readonly redisUrl: string;
}

export interface SteadyRunResult {
  readonly label: string;
  readonly votesPerSecond: number;
  readonly batchesPerSecond: number;
  readonly entriesPerBatch: number;
  /** CPU milliseconds per applied vote over the window. */
  /**
   * CPU milliseconds per applied vote over the window. `postgres` counts every PostgreSQL process
   * on the box; `backends` only the backends connected to this run's database, which other work on
   * a shared box cannot inflate.
   */
  readonly cpuMsPerVote: Readonly<Record<CpuPart, number>>;
  readonly cores: Readonly<Record<CpuPart, number>>;
  /** Append → final receipt on the bus, for votes appended during the window. */
  readonly receiptLatency: LatencySummary;
  readonly settings: Record<string, unknown>;
  readonly check: string;
}

export type CpuPart = 'worker' | 'postgres' | 'backends' | 'redis' | 'machine';

const TICK_MS = 2;
const WORKER_ENTRY = fileURLToPath(new URL('./steady-worker.ts', import.meta.url));

export async function runSteadyBenchmark(options: SteadyRunOptions): Promise<SteadyRunResult> {
  await using database = await createTestDatabase();
  const prisma = createPrismaClient(database.url);
  const redis = new Redis(options.redisUrl);
  const listener = new Redis(options.redisUrl);
  const prefix = `vmsteady:${randomBytes(4).toString('hex')}:`;
  const keys = createRedisKeys(prefix);
  let child: ChildProcess | undefined;
  try {
    const polls = createPolls(10);
    await insertPolls(prisma, polls);
    const total = Math.ceil((options.rate * (options.warmupMs + options.durationMs)) / 1000);
    const workload = buildWorkload(polls, total, 0.25);

    child = fork(WORKER_ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        ...options.workerEnv,
        STEADY_CODE_ROOT: options.codeRoot,
        DATABASE_URL: database.url,
        REDIS_URL: options.redisUrl,
        REDIS_PREFIX: prefix,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = child;
    await waitForMessage(worker, (message): message is 'ready' => message === 'ready');
    const counters = async (): Promise<SteadyWorkerCounters> => {
      const reply = waitForMessage(worker, (message): message is SteadyWorkerCounters => typeof message === 'object' && message !== null);
      worker.send('counters');
      return reply;
    };

    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let windowStart = Number.POSITIVE_INFINITY;
    let windowEnd = Number.POSITIVE_INFINITY;
    listener.on('message', (_channel: string, text: string) => {
      const now = performance.now();
      const message = parseBusMessage(text);
      // The single message is what workers before `receipts` sent: either checkout can be measured.
      const receipts = message.type === 'receipt' ? [message] : message.type === 'receipts' ? receiptUpdatesOf(message) : [];
      for (const receipt of receipts) {
        const at = sentAt.get(receipt.receiptId);
        if (at === undefined || receipt.status === 'PENDING') continue;
        sentAt.delete(receipt.receiptId);
        if (at >= windowStart && at < windowEnd) latencies.push(now - at);
      }
    });
    await listener.subscribe(keys.channel('receipt'), keys.channel('receipts'));

    // The generator: every tick, append what is due so far (castVote's receipt hash, then the entry).
    const started = performance.now();
    let sent = 0;
    const castAt = new Date().toISOString();
    const generating = (async () => {
      while (sent < workload.entries.length) {
        const due = Math.min(workload.entries.length, Math.floor(((performance.now() - started) * options.rate) / 1000));
        if (due > sent) {
          const pipeline = redis.pipeline();
          for (const entry of workload.entries.slice(sent, due)) {
            const receiptKey = keys.receipt(entry.receiptId);
            pipeline.hset(receiptKey, { pollId: entry.pollId, optionId: entry.optionId, voterId: entry.voterId, status: 'PENDING', castAt, updatedAt: castAt });
            pipeline.expire(receiptKey, 3600);
            pipeline.xadd(keys.votes, '*', ...encodeVoteEntry({ ...entry, castAt }));
            sentAt.set(entry.receiptId, performance.now());
          }
          sent = due;
          for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      }
    })();

    await delayUntil(started + options.warmupMs);
    const before = await counters();
    const meter = cpuMeter({ worker: worker.pid ?? 0 });
    const backendsBefore = await backendCpuSeconds(prisma, database.name, new Map());
    windowStart = performance.now();
    await delayUntil(windowStart + options.durationMs);
    const after = await counters();
    const used = meter();
    const backends = sum((await backendCpuSeconds(prisma, database.name, backendsBefore)).values());
    windowEnd = performance.now();
    const seconds = (windowEnd - windowStart) / 1000;
    await generating;

    await waitFor(
      async () => {
        const stats = await readGroupStats(redis, { key: keys.votes, group: keys.tallyGroup });
        return stats.pending === 0 && stats.length === 0;
      },
      { timeoutMs: 60_000, what: 'the worker to drain the stream' },
    );
    const rows = await prisma.$queryRaw<{ option_id: string; votes: bigint }[]>`SELECT option_id::text AS option_id, votes FROM option_tallies`;
    const actual = new Map(rows.map((row) => [row.option_id, Number(row.votes)]));
    for (const [optionId, expected] of workload.expectedVotes)
      if ((actual.get(optionId) ?? 0) !== expected)
        throw new Error(`tally mismatch for option ${optionId}: ${actual.get(optionId) ?? 0}, expected ${expected}`);

    const votes = after.entries - before.entries;
    const batches = after.batches - before.batches;
    const perVote = (cpuSeconds: number): number => (cpuSeconds * 1000) / votes;
    const cores = (cpuSeconds: number): number => cpuSeconds / seconds;
    const spent: Record<CpuPart, number> = {
      worker: used['worker'] ?? 0,
      postgres: used['postgres'] ?? 0,
      backends,
      redis: used['redis'] ?? 0,
      machine: used['machine (all)'] ?? 0,
    };
    const each = (scale: (cpuSeconds: number) => number): Record<CpuPart, number> => {
      const scaled: Record<CpuPart, number> = { ...spent };
      for (const part of Object.keys(scaled) as CpuPart[]) scaled[part] = scale(spent[part]);
      return scaled;
    };
    return {
      label: options.label,
      votesPerSecond: votes / seconds,
      batchesPerSecond: batches / seconds,
      entriesPerBatch: votes / batches,
      cpuMsPerVote: each(perVote),
      cores: each(cores),
      receiptLatency: summarize(latencies),
      settings: after.settings,
      check: `tallies of ${workload.expectedVotes.size} options exact after ${workload.entries.length.toLocaleString('en-US')} votes`,
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    }
    await deleteRedisPrefix(redis, prefix);
    listener.disconnect();
    redis.disconnect();
    await prisma.$disconnect();
  }
}

function waitForMessage<T>(child: ChildProcess, accept: (message: unknown) => message is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      if (!accept(message)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`the worker process exited (code ${code}) before answering`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function delayUntil(at: number): Promise<void> {
  const wait = at - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
