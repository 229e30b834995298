// The result subgraph's composition root, and (with instrument.ts, which starts telemetry before
// anything else loads) the only module that touches `process`:
// config → telemetry → clients → server → shutdown stack.
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { createPrismaClient } from '@votemesh/common/db/client';
import { createShutdownStack } from '@votemesh/common/lifecycle';
import { createLogger } from '@votemesh/common/logger';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig } from './config.ts';
import { telemetry } from './instrument.ts';
import { startResultSubgraph } from './server.ts';
import { createTallyServiceClient, createTallySource } from './tally-client.ts';

const config = loadConfig(process.env, process.stdout.isTTY);
const logger = createLogger({ service: SERVICE_NAMES.result, level: config.logLevel, pretty: config.logPretty });
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());

if (config.identitySecretIsDefault) {
  logger.warn('IDENTITY_SECRET is not set: using the public development secret; set it outside local development');
}

const prisma = createPrismaClient(config.databaseUrl);
shutdown.defer('prisma', () => prisma.$disconnect());
const tallyClient = createTallyServiceClient(config.tallyGrpcUrl, config.grpcKeepalive);
shutdown.defer('tally grpc client', () => tallyClient.close());

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void shutdown.shutdown(signal).then(() => process.exit(0));
  });
}

try {
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
  logger.error({ err: error }, 'result subgraph failed to start');
  await shutdown.shutdown('startup failure');
  process.exit(1);
}
