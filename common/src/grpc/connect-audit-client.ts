// The audit client a composition root needs (vote subgraph, worker): its unconfirmed events spooled
// in Redis under REDIS_PREFIX, so a restart while the audit service is down loses none (the next
// start, or a sibling replica, sends them: docs/contracts/audit.md), its metrics in the process's
// registry, and its close on the shutdown stack (what is unconfirmed by then stays in the spool).
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { GrpcKeepalive } from '../config.ts';
import type { ShutdownStack } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { createAuditClient, type AuditClient } from './audit-client.ts';
import { AUDIT_CLIENT_CLOSE_TIMEOUT_MS } from './audit-client-options.ts';
import { auditSpoolKey, createRedisAuditSpool } from './audit-spool.ts';

export interface ConnectAuditClientOptions {
  /** host:port of AuditIngest (AUDIT_GRPC_URL). */
  readonly address: string;
  /** The sending process kind ("vote", "worker"): it names the spool its replicas share. */
  readonly source: string;
  readonly keepalive: GrpcKeepalive;
  /** The connection the spool is written on. */
  readonly redis: Redis;
  /**
   * A fail-fast connection (no offline queue, no retries, a command timeout) the spooled gauge reads
   * the spool's size on at scrape, when `redis` queues commands while Redis is away (the worker's).
   * @default redis
   */
  readonly sizeRedis?: Redis;
  readonly redisPrefix: string;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly shutdown: ShutdownStack;
}

export function connectAuditClient(options: ConnectAuditClientOptions): AuditClient {
  const { source } = options;
  const key = auditSpoolKey(options.redisPrefix, source);
  const sizeSpool = options.sizeRedis && createRedisAuditSpool(options.sizeRedis, key);
  const audit = createAuditClient({
    address: options.address,
    logger: options.logger,
    source,
    keepalive: options.keepalive,
    closeTimeoutMs: AUDIT_CLIENT_CLOSE_TIMEOUT_MS,
    spool: createRedisAuditSpool(options.redis, key),
    ...(sizeSpool ? { spoolSize: () => sizeSpool.size() } : {}),
    registry: options.registry,
  });
  options.shutdown.defer('audit client', () => audit.close());
  return audit;
}
