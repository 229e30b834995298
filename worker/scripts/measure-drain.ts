// Quick throughput check of the apply path: fills a stream with ENTRIES votes (VOTERS voters,
// POLLS polls) in a throwaway database and Redis prefix, drains it with drainStream and prints
// entries/s. `node --import tsx worker/scripts/measure-drain.ts` (env: ENTRIES, VOTERS, POLLS,
// CONSUMERS, BATCH_SIZE). The real benchmark is bench/ingest-worker.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry } from '@votemesh/common/contracts/vote-entry';
import { createPrismaClient } from '@votemesh/common/db/client';
import { createLogger } from '@votemesh/common/logger';
import { createTestDatabase } from '@votemesh/common/testing/database';
import { drainStream } from '../src/drain.ts';

const entries = Number(process.env['ENTRIES'] ?? 200_000);
const voters = Number(process.env['VOTERS'] ?? 10_000);
const pollCount = Number(process.env['POLLS'] ?? 3);
const consumers = Number(process.env['CONSUMERS'] ?? 1);
const batchSize = Number(process.env['BATCH_SIZE'] ?? 2000);

await using db = await createTestDatabase();
const prisma = createPrismaClient(db.url);
const redis = new Redis('redis://127.0.0.1:6379');
const prefix = `vmbench:${randomBytes(4).toString('hex')}:`;
const keys = createRedisKeys(prefix);
try {
  const polls = [];
  for (let p = 0; p < pollCount; p += 1) {
    const id = randomUUID();
    const optionIds = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await prisma.poll.create({ data: { id, question: `Bench ${p}`, status: 'OPEN', createdBy: 'bench', options: { create: optionIds.map((o, position) => ({ id: o, label: `O${position}`, position })) } } });
    polls.push({ id, optionIds });
  }
  const fillStarted = performance.now();
  const castAt = new Date().toISOString();
  for (let start = 0; start < entries; start += 5000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(entries, start + 5000); i += 1) {
      const poll = polls[i % pollCount]!;
      const voterId = `voter-${(i * 7919) % voters}`;
      pipeline.xadd(keys.votes, '*', ...encodeVoteEntry({ receiptId: randomUUID(), pollId: poll.id, optionId: poll.optionIds[(i * 31) % 4]!, voterId, castAt }));
    }
    await pipeline.exec();
  }
  console.log(`filled ${entries} entries in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);

  const audit: AuditSink = { record: () => undefined, flush: async () => undefined, close: async () => undefined };
  const logger = createLogger({ service: 'measure-drain', level: 'warn' });
  const report = await drainStream({ prisma, redis, keys, audit, logger, settings: { windowSeconds: 5, receiptTtlSeconds: 600 } }, { consumers, batchSize });
  const total = await prisma.pollTally.aggregate({ _sum: { totalVotes: true } });
  console.log(JSON.stringify({ ...report, entriesPerSecond: Math.round(report.entriesPerSecond), ballots: Number(total._sum.totalVotes ?? 0) }));
} finally {
  const found = await redis.keys(`${prefix}*`);
  for (let i = 0; i < found.length; i += 1000) await redis.del(...found.slice(i, i + 1000));
  redis.disconnect();
  await prisma.$disconnect();
}
