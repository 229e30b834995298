// The vote subgraph's configuration, read once from the environment by main.ts. Every variable
// has a default that works on a laptop; a bad value throws ConfigError naming the variable.
import {
  readDatabaseUrl,
  readGrpcAddress,
  readGrpcKeepalive,
  readIdentitySecret,
  readInt,
  readReceiptTtlSeconds,
  readRedisUrl,
  readServiceBasics,
  readString,
  type Env,
  type GrpcKeepalive,
  type ServiceBasics,
} from '@votemesh/common/config';

/** The development identity secret shared by every process unless IDENTITY_SECRET is set (the gateway's default). */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';

export interface VoteConfig extends ServiceBasics {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
  /** host:port of the audit service's AuditIngest gRPC endpoint. */
  readonly auditGrpcUrl: string;
  /** HTTP/2 pings on the AuditIngest channel (GRPC_KEEPALIVE_TIME_MS / GRPC_KEEPALIVE_TIMEOUT_MS). */
  readonly grpcKeepalive: GrpcKeepalive;
  /** RECEIPT_TTL_SECONDS: how long a receipt hash lives after its last change; the worker reads the same setting. */
  readonly receiptTtlSeconds: number;
  /** How long castVote trusts a cached poll before reading PostgreSQL again. */
  readonly pollCacheTtlMs: number;
  /** The scheduler's safety-net sweep interval (it also wakes at the next due time). */
  readonly schedulerSweepMs: number;
}

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): VoteConfig {
  const basics = readServiceBasics(env, { port: 4001, stdoutIsTty });
  const { production } = basics;
  const auditGrpcUrl = readGrpcAddress(env, 'AUDIT_GRPC_URL', '127.0.0.1:50052');
  return Object.freeze({
    ...basics,
    databaseUrl: readDatabaseUrl(env),
    redisUrl: readRedisUrl(env),
    redisPrefix: readString(env, 'REDIS_PREFIX', 'vm:'),
    ...readIdentitySecret(env, production),
    auditGrpcUrl,
    grpcKeepalive: readGrpcKeepalive(env),
    receiptTtlSeconds: readReceiptTtlSeconds(env),
    pollCacheTtlMs: readInt(env, 'POLL_CACHE_TTL_MS', 1000, { min: 0, max: 60_000 }),
    schedulerSweepMs: readInt(env, 'SCHEDULER_SWEEP_MS', 5000, { min: 100, max: 3_600_000 }),
  });
}
