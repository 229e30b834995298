// The result subgraph's composition root, and (with instrument.ts, which starts telemetry before
// anything else loads) the only module that touches `process`:
// config → telemetry → clients → server → shutdown stack. Application modules are imported after
// the configuration is read, so a bad setting stops the process with its one line before anything loads.
import { failStartup } from '@votemesh/common/startup';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig, type ResultConfig } from './config.ts';
import { telemetry } from './instrument.ts';

let config: ResultConfig;
try {
  config = loadConfig(process.env, process.stdout.isTTY);
} catch (error) {
  failStartup(error, process);
}
const { createLogger, createMetricsRegistry, createShutdownStack, handleTerminationSignals, logStartupFailure } = await import('@votemesh/common');
const { identitySecretKey } = await import('@votemesh/common/contracts/identity');
const { createPrismaClient } = await import('@votemesh/common/db/client');
const { routeDiagnostics } = await import('@votemesh/common/telemetry/diagnostics');
const { startResultSubgraph } = await import('./server.ts');
const { createTallyServiceClient, createTallySource } = await import('./tally-client.ts');

const logger = createLogger({ service: SERVICE_NAMES.result, level: config.logLevel, pretty: config.logPretty });
routeDiagnostics(logger);
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());

if (config.identitySecretIsDefault) {
  logger.warn('IDENTITY_SECRET is not set: using the public development secret; set it outside local development');
}

try {
  const prisma = createPrismaClient(config.databaseUrl);
  shutdown.defer('prisma', () => prisma.$disconnect());
  const tallyClient = createTallyServiceClient(config.tallyGrpcUrl, config.grpcKeepalive);
  shutdown.defer('tally grpc client', () => tallyClient.close());
  const subgraph = await startResultSubgraph({
    config,
    logger,
    registry: createMetricsRegistry(SERVICE_NAMES.result),
    prisma,
    tally: createTallySource(tallyClient, { address: config.tallyGrpcUrl, deadlineMs: config.tallyDeadlineMs, logger }),
    identityKey: identitySecretKey(config.identitySecret),
  });
  shutdown.defer('result subgraph', () => subgraph.close());
} catch (error) {
  logStartupFailure(logger, 'result subgraph', error);
  await shutdown.shutdown('startup failed');
  process.exit(1);
}

handleTerminationSignals(process, shutdown, logger);
