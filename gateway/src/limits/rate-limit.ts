// Fixed-window rate limiting per client: the verified subject when there is one, else the client
// address. Counters live in Redis (shared by every gateway replica) behind a small interface with
// an in-memory twin. If Redis fails the request is let through and the failure logged: a limiter
// must not take the whole graph down.
import type { Redis } from 'ioredis';
import type { Logger } from '@votemesh/common/logger';

/** Counts hits of one window key; returns the count including this hit. */
export interface RateLimitCounter {
  increment(key: string, windowMs: number): Promise<number>;
}

export interface RateLimitOptions {
  /** Requests allowed per client per window; 0 disables the limiter. @default 6000 */
  readonly limit: number;
  /** Window length. @default 60000 */
  readonly windowMs?: number;
  readonly counter: RateLimitCounter;
  /** Turns (client key, window start) into the counter key, e.g. RedisKeys.rateLimit. */
  readonly keyFor: (client: string, windowStart: number) => string;
  readonly logger: Pick<Logger, 'warn'>;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

export type RateLimitDecision =
  | { readonly allowed: true; readonly limit: number; readonly remaining: number }
  | { readonly allowed: false; readonly limit: number; readonly retryAfterSeconds: number };

export interface RateLimiter {
  readonly enabled: boolean;
  consume(client: string): Promise<RateLimitDecision>;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  let lastWarnedAt = Number.NEGATIVE_INFINITY;
  return {
    enabled: options.limit > 0,
    async consume(client) {
      if (options.limit <= 0) return { allowed: true, limit: 0, remaining: Number.POSITIVE_INFINITY };
      const at = now();
      const windowStart = at - (at % windowMs);
      let count: number;
      try {
        count = await options.counter.increment(options.keyFor(client, windowStart), windowMs);
      } catch (error) {
        if (at - lastWarnedAt >= 10_000) {
          lastWarnedAt = at; // once per 10 s, not once per request
          options.logger.warn({ err: error }, 'rate limit counter unavailable; letting requests through');
        }
        return { allowed: true, limit: options.limit, remaining: options.limit };
      }
      if (count <= options.limit) return { allowed: true, limit: options.limit, remaining: options.limit - count };
      return { allowed: false, limit: options.limit, retryAfterSeconds: Math.max(1, Math.ceil((windowStart + windowMs - at) / 1000)) };
    },
  };
}

/** INCR + PEXPIRE in one round trip; the key outlives its window a little so clocks may drift. */
export function createRedisRateLimitCounter(redis: Redis): RateLimitCounter {
  return {
    async increment(key, windowMs) {
      const results = await redis.multi().incr(key).pexpire(key, windowMs + 1000, 'NX').exec();
      const [incrError, count] = results?.[0] ?? [new Error('MULTI was discarded'), undefined];
      if (incrError) throw incrError;
      return Number(count);
    },
  };
}

/** The in-memory twin (one process only): for tests and for running without Redis. */
export function createMemoryRateLimitCounter(now: () => number = Date.now): RateLimitCounter {
  const counts = new Map<string, { count: number; expiresAt: number }>();
  return {
    async increment(key, windowMs) {
      const at = now();
      for (const [stale, entry] of counts) if (entry.expiresAt <= at) counts.delete(stale);
      const entry = counts.get(key) ?? { count: 0, expiresAt: at + windowMs + 1000 };
      entry.count += 1;
      counts.set(key, entry);
      return entry.count;
    },
  };
}
