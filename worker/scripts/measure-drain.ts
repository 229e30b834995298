// Quick throughput check of the apply path: fills a stream with ENTRIES votes (VOTERS voters,
// POLLS polls) in a throwaway database and Redis prefix, drains it with drainStream and prints
// entries/s, plus the CPU each side spent per entry (this process, the PostgreSQL backends of the
// throwaway database, and redis-server when REDIS_URL points at a private one, e.g. a
// `redis-server --port 6390` started for the measurement): on a shared machine the CPU split is a
// steadier number than the wall-clock rate. `node --import tsx worker/scripts/measure-drain.ts`
// (env: ENTRIES, VOTERS, POLLS, CONSUMERS, BATCH_SIZE, REDIS_URL). The real benchmark is bench/ingest.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry } from '@votemesh/common/contracts/vote-entry';
import { createPrismaClient, type PrismaClient } from '@votemesh/common/db/client';
import { createLogger } from '@votemesh/common/logger';
import { createTestDatabase } from '@votemesh/common/testing/database';
import { WORKER_DATABASE_OPTIONS } from '../src/tally-sql.ts';
import { drainStream } from '../src/drain.ts';

const entries = Number(process.env['ENTRIES'] ?? 200_000);
const voters = Number(process.env['VOTERS'] ?? 10_000);
const pollCount = Number(process.env['POLLS'] ?? 3);
const consumers = Number(process.env['CONSUMERS'] ?? 1);
const batchSize = Number(process.env['BATCH_SIZE'] ?? 2000);
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** CPU seconds (user + system) of a local process, from /proc; 0 when it cannot be read. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function postgresCpu(prisma: PrismaClient): Promise<Map<number, number>> {
  const rows = await prisma.$queryRaw<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`;
  return new Map(rows.map(({ pid }) => [pid, processCpuSeconds(pid)]));
}

/** used_cpu_user + used_cpu_sys of the whole redis-server (INFO cpu). */
function redisCpu(info: string): number {
  const read = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return read('used_cpu_user') + read('used_cpu_sys');
}

await using db = await createTestDatabase();
const prisma = createPrismaClient(db.url, WORKER_DATABASE_OPTIONS);
const redis = new Redis(redisUrl);
const prefix = `vmbench:${randomBytes(4).toString('hex')}:`;
const keys = createRedisKeys(prefix);
try {
  const polls = [];
  for (let p = 0; p < pollCount; p += 1) {
    const id = randomUUID();
    const optionIds = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await prisma.poll.create({
      data: {
        id,
        question: `Bench ${p}`,
        status: 'OPEN',
        createdBy: 'bench',
        options: { create: optionIds.map((o, position) => ({ id: o, label: `O${position}`, position })) },
      },
    });
    polls.push({ id, optionIds });
  }
  const fillStarted = performance.now();
  const castAt = new Date().toISOString();
  for (let start = 0; start < entries; start += 5000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(entries, start + 5000); i += 1) {
      const poll = polls[i % pollCount]!;
      const voterId = `voter-${(i * 7919) % voters}`;
      pipeline.xadd(
        keys.votes,
        '*',
        ...encodeVoteEntry({ receiptId: randomUUID(), pollId: poll.id, optionId: poll.optionIds[(i * 31) % 4]!, voterId, castAt }),
      );
    }
    await pipeline.exec();
  }
  console.log(`filled ${entries} entries in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);

  const audit: AuditSink = { record: () => undefined, flush: async () => undefined, close: async () => undefined };
  const logger = createLogger({ service: 'measure-drain', level: 'warn' });
  const pgBefore = await postgresCpu(prisma);
  const redisBefore = redisCpu(await redis.info('cpu'));
  const nodeBefore = process.cpuUsage();
  const report = await drainStream({ prisma, redis, keys, audit, logger, settings: { windowSeconds: 5, receiptTtlSeconds: 600 } }, { consumers, batchSize });
  const node = process.cpuUsage(nodeBefore);
  const redisSeconds = redisCpu(await redis.info('cpu')) - redisBefore;
  let pgSeconds = 0;
  for (const [pid, seconds] of await postgresCpu(prisma)) pgSeconds += seconds - (pgBefore.get(pid) ?? 0);
  const perEntry = (seconds: number): number => Math.round(((seconds * 1e6) / Math.max(1, report.entries)) * 10) / 10;
  const total = await prisma.pollTally.aggregate({ _sum: { totalVotes: true } });
  console.log(JSON.stringify({ ...report, entriesPerSecond: Math.round(report.entriesPerSecond), ballots: Number(total._sum.totalVotes ?? 0) }));
  console.log(
    JSON.stringify({ cpuMicrosPerEntry: { node: perEntry((node.user + node.system) / 1e6), postgres: perEntry(pgSeconds), redis: perEntry(redisSeconds) } }),
  );
} finally {
  const found = await redis.keys(`${prefix}*`);
  for (let i = 0; i < found.length; i += 1000) await redis.del(...found.slice(i, i + 1000));
  redis.disconnect();
  await prisma.$disconnect();
}
