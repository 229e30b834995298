// The Redis wiring a composition root needs for the event bus: one command connection (connected
// before the process says it is up, so a wrong REDIS_URL fails the start, unless the process can
// serve without Redis and asks to start anyway: `waitForConnection: false`), a duplicate for
// SUBSCRIBE, and teardown on the shutdown stack. Both connections get an `error` listener
// (redis-errors.ts).
import { Redis } from 'ioredis';
import { redactUrl } from '../config.ts';
import type { ShutdownStack } from '../lifecycle.ts';
import { DependencyError } from '../startup.ts';
import type { BusLogger, EventBus } from './event-bus.ts';
import { createRedisEventBus } from './redis-event-bus.ts';
import { type RedisErrorLogger, watchRedisErrors } from './redis-errors.ts';

export interface RedisBusOptions {
  readonly url: string;
  readonly prefix: string;
  readonly logger: BusLogger & RedisErrorLogger;
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
  if (options.waitForConnection === false) {
    // ioredis keeps reconnecting with its backoff; watchRedisErrors logs the outage once and the recovery.
    watchRedisErrors(redis, logger, 'commands');
    redis.connect().then(
      () => logger.info({ redis: redactUrl(url) }, 'redis connected'),
      (error: unknown) =>
        logger.warn(
          { error: error instanceof Error ? error.message : String(error), redis: redactUrl(url) },
          'redis unavailable at start; serving without it and reconnecting in the background',
        ),
    );
  } else {
    // Until connected, errors only feed the start's refusal (connect() itself rejects with a bare
    // "Connection is closed."; the socket's error says why); afterwards watchRedisErrors logs them.
    let firstError: Error | undefined;
    const remember = (error: Error): void => {
      firstError ??= error;
    };
    redis.on('error', remember);
    try {
      await redis.connect();
    } catch (error) {
      // ioredis would go on reconnecting in the background of a process that is about to exit.
      redis.disconnect();
      const reason = firstError ?? error;
      throw new DependencyError('REDIS_URL', `${redactUrl(url)} does not answer (${reason instanceof Error ? reason.message : String(reason)})`, {
        cause: reason,
      });
    }
    watchRedisErrors(redis, logger, 'commands');
    redis.off('error', remember);
  }
  shutdown.defer('redis', async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  const subscriber = redis.duplicate();
  watchRedisErrors(subscriber, logger, 'bus subscriber');
  const bus = createRedisEventBus({ publisher: redis, subscriber, prefix: options.prefix, logger });
  shutdown.defer('event bus', () => bus.close());
  return { redis, bus };
}
