// The Redis wiring a composition root needs for the event bus: one command connection (connected
// before the process says it is up, so a wrong REDIS_URL fails the start), a duplicate for
// SUBSCRIBE, and teardown on the shutdown stack. Both connections get an `error` listener: ioredis
// prints "Unhandled error event" for a client without one on every reconnect attempt.
import { Redis } from 'ioredis';
import { redactUrl } from '../config.ts';
import type { ShutdownStack } from '../lifecycle.ts';
import type { BusLogger, EventBus } from './event-bus.ts';
import { createRedisEventBus } from './redis-event-bus.ts';

export interface RedisBusOptions {
  readonly url: string;
  readonly prefix: string;
  readonly logger: BusLogger;
  readonly shutdown: ShutdownStack;
  /** Of the command connection; null (no limit) for a process whose blocking reads must wait out a restart. @default 2 */
  readonly maxRetriesPerRequest?: number | null;
}

export async function connectRedisBus(options: RedisBusOptions): Promise<{ readonly redis: Redis; readonly bus: EventBus }> {
  const { url, logger, shutdown } = options;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 2 : options.maxRetriesPerRequest });
  redis.on('error', (error: Error) => logger.warn({ err: error, redis: redactUrl(url) }, 'redis connection error'));
  await redis.connect();
  shutdown.defer('redis', async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  const subscriber = redis.duplicate();
  subscriber.on('error', (error: Error) => logger.warn({ err: error, redis: redactUrl(url) }, 'redis subscriber connection error'));
  const bus = createRedisEventBus({ publisher: redis, subscriber, prefix: options.prefix, logger });
  shutdown.defer('event bus', () => bus.close());
  return { redis, bus };
}
