// The audit subgraph's configuration, read once from the environment by main.ts. Every variable
// has a default that works on a laptop; a bad value throws ConfigError naming the variable.
import {
  readDatabaseUrl,
  readGrpcKeepalive,
  readIdentitySecret,
  readInt,
  readPort,
  readRedisUrl,
  readServiceBasics,
  readString,
  type Env,
  type GrpcKeepalive,
  type ServiceBasics,
} from '@votemesh/common/config';

/** The development identity secret shared by every process unless IDENTITY_SECRET is set. */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';

export interface AuditConfig extends ServiceBasics {
  /** GRPC_PORT: AuditIngest. @default 50052 */
  readonly grpcPort: number;
  /** GRPC_KEEPALIVE_TIME_MS / GRPC_KEEPALIVE_TIMEOUT_MS: AuditIngest's pings and ping policy. @default 10000 / 5000 */
  readonly grpcKeepalive: GrpcKeepalive;
  /** DATABASE_URL @default postgresql://postgres@127.0.0.1:5432/votemesh */
  readonly databaseUrl: string;
  /** DATABASE_POOL_MAX @default 10 */
  readonly databasePoolMax: number;
  /** REDIS_URL: the event bus that carries committed events to every replica's auditEvents feed. @default redis://127.0.0.1:6379 */
  readonly redisUrl: string;
  /** REDIS_PREFIX: prefix of the bus channels; the same for every process of one deployment. @default vm: */
  readonly redisPrefix: string;
  /** IDENTITY_SECRET: HMAC key of forwarded identities; required in production. */
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
  /** AUDIT_APPEND_MAX_BATCH: most events per append transaction. @default 500 */
  readonly appendMaxBatch: number;
  /**
   * AUDIT_APPEND_MAX_DELAY_MS: longest an event waits for its batch to fill. Every append costs a
   * transaction of four round trips whatever its size, so under load fewer, bigger batches are
   * cheaper: at ~1,000 castVote/s (2 events each) 100 ms cut the audit process's CPU by about a
   * third against 20 ms (BENCHMARKS.md, issue 2b). Nothing waits on it: senders never block, and
   * an event is visible at most this much later. @default 100
   */
  readonly appendMaxDelayMs: number;
}

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): AuditConfig {
  const basics = readServiceBasics(env, { port: 4003, stdoutIsTty });
  const { production } = basics;
  return Object.freeze({
    ...basics,
    grpcPort: readPort(env, 'GRPC_PORT', 50052),
    grpcKeepalive: readGrpcKeepalive(env),
    databaseUrl: readDatabaseUrl(env),
    databasePoolMax: readInt(env, 'DATABASE_POOL_MAX', 10, { min: 2, max: 200 }),
    redisUrl: readRedisUrl(env),
    redisPrefix: readString(env, 'REDIS_PREFIX', 'vm:'),
    ...readIdentitySecret(env, production),
    appendMaxBatch: readInt(env, 'AUDIT_APPEND_MAX_BATCH', 500, { min: 1, max: 5000 }),
    appendMaxDelayMs: readInt(env, 'AUDIT_APPEND_MAX_DELAY_MS', 100, { min: 0, max: 1000 }),
  });
}
