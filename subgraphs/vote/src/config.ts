// The vote subgraph's configuration, read once from the environment by main.ts. Every variable
// has a default that works on a laptop; a bad value throws ConfigError naming the variable.
import { ConfigError, readInt, readOneOf, readPort, readString, readUrl, type Env, readIdentitySecret } from '@votemesh/common/config';

/** The development identity secret shared by every process unless IDENTITY_SECRET is set (the gateway's default). */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';

export interface VoteConfig {
  readonly host: string;
  readonly port: number;
  readonly production: boolean;
  readonly logLevel: string;
  readonly logPretty: boolean;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
  /** host:port of the audit service's AuditIngest gRPC endpoint. */
  readonly auditGrpcUrl: string;
  /** How long a receipt hash lives after its last change. */
  readonly receiptTtlSeconds: number;
  /** How long castVote trusts a cached poll before reading PostgreSQL again. */
  readonly pollCacheTtlMs: number;
  /** The scheduler's safety-net sweep interval (it also wakes at the next due time). */
  readonly schedulerSweepMs: number;
  readonly shutdownTimeoutMs: number;
}

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): VoteConfig {
  const production = env['NODE_ENV'] === 'production';
  const auditGrpcUrl = readString(env, 'AUDIT_GRPC_URL', '127.0.0.1:50052');
  if (!/^[^\s/:]+:\d{1,5}$/.test(auditGrpcUrl.replace(/^dns:(\/\/\/)?/, ''))) {
    throw new ConfigError('AUDIT_GRPC_URL', `must be host:port, got "${auditGrpcUrl}"`);
  }
  return Object.freeze({
    host: readString(env, 'HOST', '0.0.0.0'),
    port: readPort(env, 'PORT', 4001),
    production,
    logLevel: readString(env, 'LOG_LEVEL', 'info'),
    logPretty: readOneOf(env, 'LOG_FORMAT', ['pretty', 'json'], stdoutIsTty ? 'pretty' : 'json') === 'pretty',
    databaseUrl: readUrl(env, 'DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/votemesh', ['postgresql:', 'postgres:']),
    redisUrl: readUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisPrefix: readString(env, 'REDIS_PREFIX', 'vm:'),
    ...readIdentitySecret(env, production),
    auditGrpcUrl,
    receiptTtlSeconds: readInt(env, 'RECEIPT_TTL_SECONDS', 86_400, { min: 60 }),
    pollCacheTtlMs: readInt(env, 'POLL_CACHE_TTL_MS', 1000, { min: 0, max: 60_000 }),
    schedulerSweepMs: readInt(env, 'SCHEDULER_SWEEP_MS', 5000, { min: 100, max: 3_600_000 }),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, { min: 100 }),
  });
}
