// Fixed-window rate limiting per client: the verified subject when there is one, else the client
// address. Counters live in Redis (shared by every gateway replica) behind a small interface with
// an in-memory twin. If Redis fails the request is let through and the failure logged: a limiter
// must not take the whole graph down.
import type { Redis, Result } from 'ioredis';
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

/**
 * INCR, and PEXPIRE on a key's first hit, as ONE Lua command (EVALSHA; ioredis loads the script on
 * first use): one round trip and one command per request instead of MULTI/INCR/PEXPIRE/EXEC, still
 * atomic, so every replica counts exactly against the same window. The key outlives its window a
 * little so clocks may drift.
 */
const INCREMENT_SCRIPT = `local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;

// `defineCommand` adds the script as a method on clients and pipelines; this tells TypeScript so.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    votemeshRateLimitIncrement(key: string, ttlMs: number, by: number): Result<number, Context>;
  }
}

const clientsWithIncrement = new WeakSet<Redis>();

function incrementCommand(redis: Redis): (key: string, ttlMs: number, by: number) => Promise<number> {
  if (!clientsWithIncrement.has(redis)) {
    redis.defineCommand('votemeshRateLimitIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
    clientsWithIncrement.add(redis);
  }
  return (key, ttlMs, by) => redis.votemeshRateLimitIncrement(key, ttlMs, by);
}

/** Exact: one Redis command per hit. */
export function createRedisRateLimitCounter(redis: Redis): RateLimitCounter {
  const increment = incrementCommand(redis);
  return {
    async increment(key, windowMs) {
      return Number(await increment(key, windowMs + 1000, 1));
    },
  };
}

export interface BatchedRateLimitCounterOptions {
  /** How often local hits are added to Redis (and other replicas' hits learned). @default 100 */
  readonly syncMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
  /** Called when a sync fails (the hits are kept and retried on the next sync). */
  readonly onSyncError?: (error: unknown) => void;
}

export interface BatchedRateLimitCounter extends RateLimitCounter {
  /** Sends pending hits now (tests; shutdown). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Redis counters without a round trip per request. A key's FIRST hit in this process goes to Redis
 * at once (so a client's count includes what other replicas already saw); after that, hits are
 * counted locally and added to Redis with INCRBY every `syncMs`, in one pipeline for all keys, and
 * each answer brings back the global count. Within one replica the count is exact. Across R
 * replicas a client can exceed its limit by at most what the other replicas admit between two
 * syncs ((R − 1) × its rate × syncMs; at 6,000/min and 100 ms, 10 requests per other replica) — the price of
 * a rate limit that costs no syscall per request.
 */
export function createBatchedRedisRateLimitCounter(redis: Redis, options: BatchedRateLimitCounterOptions = {}): BatchedRateLimitCounter {
  const increment = incrementCommand(redis);
  const syncMs = options.syncMs ?? 100;
  const now = options.now ?? Date.now;
  interface Entry {
    global: number;
    pending: number;
    ttlMs: number;
    expiresAt: number;
    first?: Promise<number>;
  }
  const entries = new Map<string, Entry>();
  let syncing: Promise<void> | undefined;
  const timer = setInterval(() => void sync(), syncMs);
  timer.unref();

  async function sync(): Promise<void> {
    if (syncing) return syncing;
    const at = now();
    const batch: [string, Entry, number][] = [];
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= at && entry.pending === 0) entries.delete(key);
      else if (entry.pending > 0 && entry.first === undefined) {
        batch.push([key, entry, entry.pending]);
        entry.pending = 0;
      }
    }
    if (batch.length === 0) return;
    syncing = (async () => {
      const pipeline = redis.pipeline();
      for (const [key, entry, hits] of batch) pipeline.votemeshRateLimitIncrement(key, entry.ttlMs, hits);
      const results = await pipeline
        .exec()
        .catch((error: unknown) => batch.map((): [Error | null, unknown] => [error instanceof Error ? error : new Error(String(error)), null]));
      batch.forEach(([, entry, hits], index) => {
        const [error, count] = results?.[index] ?? [new Error('no reply'), null];
        if (error) {
          entry.pending += hits; // keep them for the next sync
          options.onSyncError?.(error);
        } else entry.global = Number(count);
      });
    })().finally(() => {
      syncing = undefined;
    });
    return syncing;
  }

  return {
    async increment(key, windowMs) {
      const entry = entries.get(key);
      if (entry) {
        if (entry.first) {
          // The first hit is still on its way to Redis: count behind it.
          entry.pending += 1;
          const global = await entry.first;
          return global + entry.pending;
        }
        entry.pending += 1;
        return entry.global + entry.pending;
      }
      const fresh: Entry = { global: 0, pending: 0, ttlMs: windowMs + 1000, expiresAt: now() + windowMs + 1000 };
      fresh.first = increment(key, fresh.ttlMs, 1).then(Number);
      entries.set(key, fresh);
      try {
        fresh.global = await fresh.first;
        return fresh.global + fresh.pending;
      } catch (error) {
        entries.delete(key);
        throw error;
      } finally {
        delete fresh.first;
      }
    },
    sync,
    async close() {
      clearInterval(timer);
      await sync();
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
