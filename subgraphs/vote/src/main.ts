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
const { connectAuditClient } = await import('@votemesh/common/grpc/connect-audit-client');
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
  // Unconfirmed audit events are spooled in Redis: no restart loses them.
  const audit = connectAuditClient({
    address: config.auditGrpcUrl,
    source: 'vote',
    keepalive: config.grpcKeepalive,
    redis,
    redisPrefix: config.redisPrefix,
    registry,
    logger,
    shutdown,
  });

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
