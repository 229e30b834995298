// Everything a worker test needs, real and isolated: a fresh migrated PostgreSQL database, a Redis
// key prefix of its own, an in-memory audit sink, a silent logger and a metrics registry.
// `await using h = await createHarness()` tears it all down.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createLogger, type Logger } from '@votemesh/common/logger';
import { createRedisKeys, type RedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry, type VoteEntry } from '@votemesh/common/contracts/vote-entry';
import { createPrismaClient, type CreatePrismaClientOptions, type PrismaClient } from '@votemesh/common/db/client';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { deleteRedisPrefix, testRedisPrefix } from '@votemesh/common/testing/redis';
import type { Registry } from 'prom-client';
import type { ApplyDeps } from '../../src/apply-batch.ts';
import type { StreamEntry } from '../../src/stream.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../../src/metrics.ts';
import { WORKER_DATABASE_OPTIONS } from '../../src/tally-sql.ts';
import { createMemoryAuditSink, type MemoryAuditSink } from './memory-audit-sink.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export interface Harness extends AsyncDisposable {
  readonly db: TestDatabase;
  readonly prisma: PrismaClient;
  readonly redis: Redis;
  readonly prefix: string;
  readonly keys: RedisKeys;
  readonly audit: MemoryAuditSink;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly metrics: WorkerMetrics;
  readonly applyDeps: ApplyDeps;
  createPoll(optionCount?: number): Promise<TestPoll>;
  /** XADD with an auto id; returns the id. */
  castVote(vote: Omit<VoteEntry, 'receiptId' | 'castAt'> & { receiptId?: string }): Promise<{ id: string; receiptId: string }>;
  /** Appends rounds × perRound votes of `voterCount` random voters (one pipeline per round); `latest` gets each voter's last choice. */
  enqueueRandomVotes(poll: TestPoll, options: RandomVotes): Promise<void>;
  receipt(receiptId: string): Promise<Record<string, string>>;
  optionVotes(pollId: string): Promise<Map<string, number>>;
  pollTally(pollId: string): Promise<{ totalVotes: number; version: number } | undefined>;
}

export interface RandomVotes {
  readonly rounds: number;
  readonly perRound: number;
  readonly voterCount: number;
  readonly random: () => number;
  readonly latest: Map<string, string>;
}

export interface TestPoll {
  readonly id: string;
  readonly optionIds: readonly string[];
}

/** A stream entry with an explicit id (so tests control the order the worker sees), cast now unless `castAt` says when. */
export function voteEntry(
  id: string,
  vote: { pollId: string; optionId: string; voterId: string; receiptId?: string; castAt?: string; traceparent?: string },
): StreamEntry & { receiptId: string } {
  const receiptId = vote.receiptId ?? randomUUID();
  return { id, receiptId, fields: encodeVoteEntry({ ...vote, receiptId, castAt: vote.castAt ?? new Date().toISOString() }) };
}

export interface HarnessOptions {
  /** The client's options; main.ts's (WORKER_DATABASE_OPTIONS) unless a test needs others. */
  readonly database?: CreatePrismaClientOptions;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const db = await createTestDatabase();
  // As main.ts does, so the tests run the batch statement the way production does.
  const prisma = createPrismaClient(db.url, options.database ?? WORKER_DATABASE_OPTIONS);
  const redis = new Redis(REDIS_URL);
  const prefix = testRedisPrefix();
  const keys = createRedisKeys(prefix);
  const audit = createMemoryAuditSink();
  const logger = createLogger({ service: 'worker-test', level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const registry = createMetricsRegistry('worker-test');
  const metrics = createWorkerMetrics(registry);
  const applyDeps: ApplyDeps = { prisma, redis, keys, audit, logger, metrics, settings: { windowSeconds: 5, receiptTtlSeconds: 600 } };

  return {
    db,
    prisma,
    redis,
    prefix,
    keys,
    audit,
    logger,
    registry,
    metrics,
    applyDeps,
    async createPoll(optionCount = 3) {
      const id = randomUUID();
      const optionIds = Array.from({ length: optionCount }, () => randomUUID());
      await prisma.poll.create({
        data: {
          id,
          question: `Test poll ${id.slice(0, 8)}?`,
          status: 'OPEN',
          createdBy: 'test-admin',
          options: { create: optionIds.map((optionId, position) => ({ id: optionId, label: `Option ${position + 1}`, position })) },
        },
      });
      return { id, optionIds };
    },
    async castVote(vote) {
      const receiptId = vote.receiptId ?? randomUUID();
      const entry: VoteEntry = { ...vote, receiptId, castAt: new Date().toISOString() };
      const id = await redis.xadd(keys.votes, '*', ...encodeVoteEntry(entry));
      if (id === null) throw new Error('XADD returned no id');
      return { id, receiptId };
    },
    async enqueueRandomVotes(poll, { rounds, perRound, voterCount, random, latest }) {
      for (let round = 0; round < rounds; round += 1) {
        const pipeline = redis.pipeline();
        for (let i = 0; i < perRound; i += 1) {
          const voterId = `voter-${Math.floor(random() * voterCount)}`;
          const optionId = poll.optionIds[Math.floor(random() * poll.optionIds.length)] ?? '';
          latest.set(voterId, optionId);
          pipeline.xadd(keys.votes, '*', ...encodeVoteEntry({ receiptId: randomUUID(), pollId: poll.id, optionId, voterId, castAt: new Date().toISOString() }));
        }
        await pipeline.exec();
      }
    },
    receipt: (receiptId) => redis.hgetall(keys.receipt(receiptId)),
    async optionVotes(pollId) {
      const rows = await prisma.optionTally.findMany({ where: { pollId } });
      return new Map(rows.map((row) => [row.optionId, Number(row.votes)]));
    },
    async pollTally(pollId) {
      const row = await prisma.pollTally.findUnique({ where: { pollId } });
      return row ? { totalVotes: Number(row.totalVotes), version: Number(row.version) } : undefined;
    },
    async [Symbol.asyncDispose]() {
      await deleteRedisPrefix(redis, prefix);
      redis.disconnect();
      await prisma.$disconnect();
      await db[Symbol.asyncDispose]();
    },
  };
}

export { seededRandom } from '@votemesh/common/testing/seeded-random';
