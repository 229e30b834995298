// The Redis wiring a composition root needs for the event bus: one command connection (connected
// before the process says it is up, so a wrong REDIS_URL fails the start, unless the process can
// serve without Redis and asks to start anyway: `waitForConnection: false`), a duplicate for
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
  readonly logger: BusLogger & { info(obj: object, msg: string): void };
  readonly shutdown: ShutdownStack;
  /** Of the command connection; null (no limit) for a process whose blocking reads must wait out a restart. @default 2 */
  readonly maxRetriesPerRequest?: number | null;
  /**
   * false: return at once and let ioredis keep reconnecting (its backoff, 50 ms steps up to 2 s,
   * each failure logged) for a process whose Redis use is optional, instead of failing the start.
   * @default true
   */
  readonly waitForConnection?: boolean;
}

/** A readiness/dependency check of a connection: fails at once, naming its state, while it is not ready. */
export function redisCheck(name: string, redis: Redis): { readonly name: string; check(): Promise<void> } {
  return {
    name,
    async check() {
      if (redis.status !== 'ready') throw new Error(`redis connection is ${redis.status}`);
      await redis.ping();
    },
  };
}

export async function connectRedisBus(options: RedisBusOptions): Promise<{ readonly redis: Redis; readonly bus: EventBus }> {
  const { url, logger, shutdown } = options;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 2 : options.maxRetriesPerRequest });
  redis.on('error', (error: Error) => logger.warn({ err: error, redis: redactUrl(url) }, 'redis connection error'));
  if (options.waitForConnection === false) {
    redis.connect().then(
      () => logger.info({ redis: redactUrl(url) }, 'redis connected'),
      (error: unknown) =>
        logger.warn({ err: error, redis: redactUrl(url) }, 'redis unavailable at start; serving without it and reconnecting in the background'),
    );
    // Announce the recovery too: the errors above are all an operator sees otherwise.
    redis.on('ready', () => logger.info({ redis: redactUrl(url) }, 'redis ready'));
  } else {
    await redis.connect();
  }
  shutdown.defer('redis', async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  const subscriber = redis.duplicate();
  subscriber.on('error', (error: Error) => logger.warn({ err: error, redis: redactUrl(url) }, 'redis subscriber connection error'));
  const bus = createRedisEventBus({ publisher: redis, subscriber, prefix: options.prefix, logger });
  shutdown.defer('event bus', () => bus.close());
  return { redis, bus };
}
