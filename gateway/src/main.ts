// The gateway's composition root and (with instrument.ts) the only module that touches `process`:
// config → telemetry → clients → server → shutdown stack. Application modules are imported after
// telemetry has started, so its instrumentations patch them.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '@votemesh/common/config';
import { failStartup } from '@votemesh/common/startup';
import { SERVICE_NAMES } from '@votemesh/common/telemetry/names';
import { loadConfig, type GatewayConfig } from './config.ts';
import type { ReadinessCheck } from '@votemesh/common/readiness';
import type { SubscriptionsFactory } from './server.ts';
import { telemetry } from './instrument.ts';

let config: GatewayConfig;
try {
  config = loadConfig(process.env, process.stdout.isTTY);
} catch (error) {
  failStartup(error, process);
}
const { createLogger, createMetricsRegistry, createShutdownStack, handleTerminationSignals, logStartupFailure } = await import('@votemesh/common');
const { routeDiagnostics } = await import('@votemesh/common/telemetry/diagnostics');
const { watchRedisErrors } = await import('@votemesh/common/bus/redis-errors');
const { redisCheck } = await import('@votemesh/common/bus/connect-redis-bus');
const { Redis } = await import('ioredis');
const { startGateway } = await import('./server.ts');
const { createBatchedRedisRateLimitCounter } = await import('./limits/rate-limit.ts');
const { createSubscriptionsFactory } = await import('./subscriptions/transport.ts');

const logger = createLogger({ service: SERVICE_NAMES.gateway, level: config.logLevel, pretty: config.logPretty });
routeDiagnostics(logger);
const shutdown = createShutdownStack(logger, config.shutdownTimeoutMs);
shutdown.defer('telemetry', () => telemetry.shutdown());
if (config.identitySecretIsDefault) logger.warn('IDENTITY_SECRET is not set: using the public development secret');
if (config.auth.mode === 'dev') {
  logger.warn(
    { adminTokens: config.auth.adminBootstrapSecret !== undefined },
    'AUTH_MODE=dev: the built-in issuer hands out voter tokens to anyone; use AUTH_MODE=oidc in production',
  );
}

try {
  const supergraphPath = resolve(config.supergraphPath);
  let supergraphSdl: string;
  try {
    supergraphSdl = await readFile(supergraphPath, 'utf8');
  } catch (error) {
    throw new ConfigError('SUPERGRAPH_PATH', `names ${supergraphPath}, which cannot be read (${(error as Error).message}); run \`npm run supergraph\``);
  }
  const registry = createMetricsRegistry(SERVICE_NAMES.gateway);

  let rateLimitCounter;
  const dependencyChecks: ReadinessCheck[] = [];
  if (config.rateLimitPerMinute > 0) {
    // Fail fast while Redis is away: the limiter lets requests through rather than queueing them.
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    watchRedisErrors(redis, logger, 'rate limits');
    redis.connect().catch((error: unknown) => logger.warn({ err: error }, 'redis unavailable at start; rate limiting is lenient until it connects'));
    shutdown.defer('redis', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    // Hits are counted locally and synced every 100 ms (rate-limit.ts): no Redis round trip per request.
    const counter = createBatchedRedisRateLimitCounter(redis, {
      onSyncError: (error) => logger.debug({ err: error }, 'rate limit sync failed; retrying'),
    });
    shutdown.defer('rate-limit sync', () => counter.close());
    rateLimitCounter = counter;
    // Reported, not required: without Redis the limits are per process (lenient), queries still run.
    dependencyChecks.push(redisCheck('redis', redis));
  }

  // Subscriptions (graphql-ws + SSE/multipart) on the same /graphql; queries and mutations that
  // arrive on a socket run through the HTTP pipeline (host.executeOperation).
  const subscriptions: SubscriptionsFactory = (host) =>
    createSubscriptionsFactory({ limits: config.subscriptionLimits, replayFields: config.subscriptionReplayFields, executeOperation: host.executeOperation })(
      host,
    );

  const gateway = await startGateway({
    config,
    logger,
    registry,
    supergraphSdl,
    ...(rateLimitCounter ? { rateLimitCounter } : {}),
    dependencyChecks,
    subscriptions,
  });
  shutdown.defer('gateway', () => gateway.close());
} catch (error) {
  logStartupFailure(logger, 'gateway', error);
  await shutdown.shutdown('startup failed');
  process.exit(1);
}

handleTerminationSignals(process, shutdown, logger);
