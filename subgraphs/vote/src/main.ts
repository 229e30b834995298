// The vote subgraph's composition root and (with instrument.ts) the only module that touches
// `process`: config → telemetry → clients → server → shutdown stack. Application modules are
// imported after telemetry has started, so its instrumentations patch them.
import { failStartup } from '@votemesh/common/startup';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig, type VoteConfig } from './config.ts';
import { telemetry } from './instrument.ts';

let config: VoteConfig;
try {
  config = loadConfig(process.env, process.stdout.isTTY === true);
} catch (error) {
  failStartup(error, process);
}
const { createLogger, createMetricsRegistry, createShutdownStack, handleTerminationSignals, logStartupFailure } = await import('@votemesh/common');
const { routeDiagnostics } = await import('@votemesh/common/telemetry/diagnostics');
const { createPrismaClient } = await import('@votemesh/common/db/client');
const { connectRedisBus } = await import('@votemesh/common/bus/connect-redis-bus');
const { createAuditClient } = await import('@votemesh/common/grpc/audit-client');
const { auditSpoolKey, createRedisAuditSpool } = await import('@votemesh/common/grpc/audit-spool');
const { startVoteSubgraph } = await import('./server.ts');

const logger = createLogger({ service: SERVICE_NAMES.vote, level: config.logLevel, pretty: config.logPretty });
routeDiagnostics(logger);
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());
if (config.identitySecretIsDefault) logger.warn('IDENTITY_SECRET is not set: using the public development secret');

try {
  const prisma = createPrismaClient(config.databaseUrl);
  shutdown.defer('postgres', () => prisma.$disconnect());

  const { redis, bus } = await connectRedisBus({ url: config.redisUrl, prefix: config.redisPrefix, logger, shutdown });

  const registry = createMetricsRegistry(SERVICE_NAMES.vote);
  // Unconfirmed audit events are spooled in Redis, so a restart while the audit service is down
  // loses none: the next start (or a sibling replica) sends them (docs/contracts/audit.md).
  const audit = createAuditClient({
    address: config.auditGrpcUrl,
    logger,
    source: 'vote',
    keepalive: config.grpcKeepalive,
    // At shutdown: what is not confirmed by then stays in the spool.
    closeTimeoutMs: 2000,
    spool: createRedisAuditSpool(redis, auditSpoolKey(config.redisPrefix, 'vote')),
    registry,
  });
  shutdown.defer('audit client', () => audit.close());

  const vote = await startVoteSubgraph({
    config,
    logger,
    prisma,
    redis,
    bus,
    audit,
    registry,
  });
  shutdown.defer('vote subgraph', () => vote.close());
} catch (error) {
  logStartupFailure(logger, 'vote subgraph', error);
  await shutdown.shutdown('startup failed');
  process.exit(1);
}

handleTerminationSignals(process, shutdown, logger);
