// The audit subgraph's composition root and (with instrument.ts) the only module that touches
// `process`: config → telemetry → clients → servers → shutdown stack. Application modules are
// imported after telemetry has started, so its instrumentations patch them.
import { failStartup } from '@votemesh/common/startup';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig, type AuditConfig } from './config.ts';
import { telemetry } from './instrument.ts';

let config: AuditConfig;
try {
  config = loadConfig(process.env, process.stdout.isTTY);
} catch (error) {
  failStartup(error, process);
}
const { createLogger, createMetricsRegistry, createShutdownStack, handleTerminationSignals, logStartupFailure } = await import('@votemesh/common');
const { routeDiagnostics } = await import('@votemesh/common/telemetry/diagnostics');
const { createDatabasePool, createPrismaClient } = await import('@votemesh/common/db/client');
const { connectRedisBus, redisCheck } = await import('@votemesh/common/bus/connect-redis-bus');
const { startAuditSubgraph } = await import('./server.ts');

const logger = createLogger({ service: SERVICE_NAMES.audit, level: config.logLevel, pretty: config.logPretty });
routeDiagnostics(logger);
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());
if (config.identitySecretIsDefault) logger.warn('IDENTITY_SECRET is not set: using the public development secret');

try {
  // One pool: Prisma for the queries, the driver directly for appends (subgraphs/audit/src/store.ts).
  const pool = createDatabasePool(config.databaseUrl, {
    poolMax: config.databasePoolMax,
    onIdleClientError: (error) => logger.warn({ err: error }, 'an idle PostgreSQL connection failed; it is replaced when needed'),
  });
  shutdown.defer('postgres pool', () => pool.end());
  const prisma = createPrismaClient(pool);
  shutdown.defer('prisma', () => prisma.$disconnect());

  // Only the auditEvents feed uses Redis (the event bus between replicas); a failed publish loses
  // live pushes, never log entries. So Redis down at start is no reason to stay down: ingest and
  // the queries serve at once, and the feed works once the connection (retried in the background) is up.
  const { redis, bus } = await connectRedisBus({ url: config.redisUrl, prefix: config.redisPrefix, logger, shutdown, waitForConnection: false });

  const registry = createMetricsRegistry(SERVICE_NAMES.audit);
  const audit = await startAuditSubgraph({ config, logger, prisma, pool, registry, bus, dependencyChecks: [redisCheck('redis', redis)] });
  shutdown.defer('audit subgraph', () => audit.close());
  logger.info({ url: `${audit.url}/graphql`, grpcAddress: audit.grpcAddress }, 'listening');
} catch (error) {
  logStartupFailure(logger, 'audit subgraph', error);
  await shutdown.shutdown('startup failed');
  process.exit(1);
}

handleTerminationSignals(process, shutdown, logger);
