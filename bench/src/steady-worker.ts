// The worker side of bench/steady.ts, in a process of its own so that /proc gives its CPU apart from
// the load generator's. It runs the worker's `startConsumer` with the settings `loadConfig` derives
// from this process's environment (the production defaults unless the run overrides some), from
// the checkout named by STEADY_CODE_ROOT: the same driver can measure another checkout's worker
// (e.g. the base branch) in the same session. Audit events are counted, not sent, as in
// worker-apply.ts. The parent asks for the counters over IPC, so counting costs nothing per batch.
import { pathToFileURL } from 'node:url';

const codeRoot = process.env['STEADY_CODE_ROOT'] ?? new URL('../..', import.meta.url).pathname;
const from = (path: string): string => pathToFileURL(`${codeRoot}/${path}`).href;

const configModule: typeof import('../../worker/src/config.ts') = await import(from('worker/src/config.ts'));
const consumerModule: typeof import('../../worker/src/consumer.ts') = await import(from('worker/src/consumer.ts'));
const metricsModule: typeof import('../../worker/src/metrics.ts') = await import(from('worker/src/metrics.ts'));
const dbModule: typeof import('../../common/src/db/client.ts') = await import(from('common/src/db/client.ts'));
const keysModule: typeof import('../../common/src/contracts/redis-keys.ts') = await import(from('common/src/contracts/redis-keys.ts'));
const loggerModule: typeof import('../../common/src/logger.ts') = await import(from('common/src/logger.ts'));
const registryModule: typeof import('../../common/src/metrics.ts') = await import(from('common/src/metrics.ts'));
const { Redis } = await import('ioredis');

const config = configModule.loadConfig(process.env, { pid: process.pid, isTty: false });
// As worker/src/main.ts does; a checkout from before prepared statements has none to pass.
const batchSqlModule: Partial<typeof import('../../worker/src/batch-sql.ts')> = await import(from('worker/src/batch-sql.ts'));
const preparedStatements = batchSqlModule.BATCH_STATEMENTS;
const prisma = dbModule.createPrismaClient(config.databaseUrl, preparedStatements ? { preparedStatements } : {});
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
let batches = 0;
let entries = 0;
let auditEvents = 0;
const consumer = await consumerModule.startConsumer({
  prisma,
  redis,
  keys: keysModule.createRedisKeys(config.redisPrefix),
  audit: { record: () => void (auditEvents += 1), flush: async () => undefined, close: async () => undefined },
  logger: loggerModule.createLogger({ service: 'bench-steady-worker', level: 'warn' }),
  metrics: metricsModule.createWorkerMetrics(registryModule.createMetricsRegistry('worker')),
  settings: config.consumer,
  onBatch: (report) => {
    batches += 1;
    entries += report.entries;
  },
});

export interface SteadyWorkerCounters {
  readonly batches: number;
  readonly entries: number;
  readonly auditEvents: number;
  readonly settings: Record<string, unknown>;
}

process.on('message', (message: unknown) => {
  if (message === 'counters') {
    const counters: SteadyWorkerCounters = { batches, entries, auditEvents, settings: { ...config.consumer } };
    process.send?.(counters);
  } else if (message === 'stop') {
    void consumer
      .stop('benchmark done')
      .then(async () => {
        redis.disconnect();
        await prisma.$disconnect();
      })
      .finally(() => process.disconnect?.());
  }
});
process.send?.('ready');
