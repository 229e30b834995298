// Every Redis key and channel votemesh uses, under one prefix (REDIS_PREFIX) so test runs and
// deployments sharing a Redis never collide.
import type { BusMessageType } from './bus.ts';

export interface RedisKeys {
  /** The vote stream (XADD by the vote subgraph, XREADGROUP by the worker). */
  readonly votes: string;
  /** The worker's consumer group on `votes`. */
  readonly tallyGroup: string;
  /** Hash with a receipt's status; expires RECEIPT_TTL_SECONDS after its last change. */
  receipt(receiptId: string): string;
  /** Pub/sub channel for one kind of bus message. */
  channel(type: BusMessageType): string;
  /** Fixed-window rate-limit counter. */
  rateLimit(scope: string, windowStart: number): string;
  /** Sorted set of a sending process kind's unconfirmed audit events (docs/contracts/audit.md). */
  auditSpool(source: string): string;
}

export function createRedisKeys(prefix: string): RedisKeys {
  return {
    votes: `${prefix}votes`,
    tallyGroup: 'tally',
    receipt: (receiptId) => `${prefix}receipt:${receiptId}`,
    channel: (type) => `${prefix}bus:${type}`,
    rateLimit: (scope, windowStart) => `${prefix}rl:${scope}:${windowStart}`,
    auditSpool: (source) => `${prefix}audit:spool:${source}`,
  };
}
