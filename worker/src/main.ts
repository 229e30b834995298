// The tally worker's composition root and the only module that touches `process`:
// config → telemetry → clients → servers → consumer → shutdown stack. Prints one `listening` line
// (JSON) with the bound HTTP URL and gRPC address, so a parent process can find them with PORT=0.
import { failStartup } from '@votemesh/common/startup';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig, type WorkerConfig } from './config.ts';
import type { Consumer } from './consumer.ts';

let config: WorkerConfig;
try {
  config = loadConfig(process.env, { pid: process.pid, isTty: process.stdout.isTTY === true });
} catch (error) {
  failStartup(error, process);
}
// Normally already loaded by `--import ./worker/src/instrument.ts`; importing it here keeps a plain
// `node worker/src/main.ts` traced too, and it is still before the instrumented modules below.
const { telemetry } = await import('./instrument.ts');

const { createLogger, createMetricsRegistry, createShutdownStack, createRedisKeys, handleTerminationSignals, logStartupFailure } = await import(
  '@votemesh/common'
);
const { createPrismaClient } = await import('@votemesh/common/db/client');
const { connectRedisBus } = await import('@votemesh/common/bus/connect-redis-bus');
const { watchRedisErrors } = await import('@votemesh/common/bus/redis-errors');
const { routeDiagnostics } = await import('@votemesh/common/telemetry/diagnostics');
const { connectAuditClient } = await import('@votemesh/common/grpc/connect-audit-client');
const { WORKER_DATABASE_OPTIONS } = await import('./tally-sql.ts');
const { startConsumer } = await import('./consumer.ts');
const { createWorkerMetrics, registerStreamGauges } = await import('./metrics.ts');
const { startHttpServer } = await import('./server.ts');
const { startTallyServer } = await import('./tally-service.ts');

const logger = createLogger({ service: SERVICE_NAMES.worker, level: config.logLevel, pretty: config.logPretty });
routeDiagnostics(logger);
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());

try {
  const keys = createRedisKeys(config.redisPrefix);
  // No per-command retry limit: the consumer's blocking reads wait out a Redis restart.
  const { redis, bus } = await connectRedisBus({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    logger,
    shutdown,
    maxRetriesPerRequest: null,
  });
  // Probes and scrapes must answer while Redis is away, and the command connection above queues
  // every command until Redis is back: they get a connection of their own that fails at once
  // when disconnected and gives up on a command after a second.
  const probes = redis.duplicate({ lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 });
  watchRedisErrors(probes, logger, 'probes');
  await probes.connect();
  shutdown.defer('redis probes', () => probes.disconnect());
  const prisma = createPrismaClient(config.databaseUrl, WORKER_DATABASE_OPTIONS);
  shutdown.defer('prisma', () => prisma.$disconnect());
  const registry = createMetricsRegistry(SERVICE_NAMES.worker);
  // Unconfirmed audit events are spooled in Redis (before each batch is acknowledged: apply-batch.ts): no restart loses them.
  const audit = connectAuditClient({
    address: config.auditGrpcUrl,
    source: 'worker',
    keepalive: config.grpcKeepalive,
    redis,
    // \`redis\` waits out a Redis restart (offline queue, endless retries): a scrape's ZCARD must not queue there.
    sizeRedis: probes,
    redisPrefix: config.redisPrefix,
    registry,
    logger,
    shutdown,
  });

  const metrics = createWorkerMetrics(registry);
  registerStreamGauges(registry, probes, { key: keys.votes, group: keys.tallyGroup }, logger);

  // The listeners bind first and the consumer starts last: a worker that cannot serve probes,
  // metrics or TallyService exits before it has read, applied or acked a single entry. Shutdown
  // runs last in, first out: answer "draining" so TallyService traffic moves elsewhere, stop taking
  // HTTP probes, end gRPC streams, then finish the batch in flight and ack. So the consumer's
  // teardown is registered before the listeners' (a no-op until it has started), each listener's
  // as soon as it is bound (one that cannot bind still stops the rest), and the drain once all
  // run (a start that failed has nothing to drain).
  let consumer: Consumer | undefined;
  shutdown.defer('consumer', () => consumer?.stop('shutdown'));
  const tally = await startTallyServer({
    prisma,
    bus,
    logger,
    windowSeconds: config.consumer.windowSeconds,
    host: config.host,
    port: config.grpcPort,
    keepalive: config.grpcKeepalive,
  });
  shutdown.defer('grpc server', () => tally.close(config.grpcShutdownMs));
  const http = await startHttpServer({ host: config.host, port: config.port, registry, prisma, redis: probes, consumer: () => consumer });
  shutdown.defer('http server', () => http.close());
  consumer = await startConsumer({ prisma, redis, keys, audit, logger, metrics, settings: config.consumer });
  shutdown.defer('drain', () => http.readiness.drain(config.drainDelayMs));
  logger.info(
    { url: http.url, grpcAddress: tally.address, httpPort: http.port, grpcPort: tally.port, consumer: consumer.name, consumers: consumer.consumerNames },
    'listening',
  );
} catch (error) {
  logStartupFailure(logger, 'worker', error);
  await shutdown.shutdown('startup failed');
  process.exit(1);
}

handleTerminationSignals(process, shutdown, logger);
