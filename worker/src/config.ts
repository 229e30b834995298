// The worker's configuration, read once from the environment by main.ts. Every value has a default
// that works on a laptop; a bad value throws ConfigError naming the variable.
import { hostname } from 'node:os';
import { AUDIT_CLIENT_CLOSE_TIMEOUT_MS } from '@votemesh/common/grpc/audit-client-options';
import {
  ConfigError,
  readGrpcAddress,
  readGrpcKeepalive,
  readInt,
  MAX_TIMER_MS,
  readOptionalString,
  readPort,
  readReceiptTtlSeconds,
  readString,
  type Env,
  type GrpcKeepalive,
  readDatabaseUrl,
  readRedisUrl,
  readServiceBasics,
  type ServiceBasics,
} from '@votemesh/common/config';

/** CONSUMER_DELETE_IDLE_MS's default: a consumer idle 10 minutes with nothing pending is gone. */
export const DEFAULT_CONSUMER_DELETE_IDLE_MS = 600_000;

/** `port` (PORT, default 4004) serves /healthz, /readyz and /metrics. */
export interface WorkerConfig extends ServiceBasics {
  /** TallyService gRPC port. @default 50051 */
  readonly grpcPort: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  readonly auditGrpcUrl: string;
  /** HTTP/2 pings of the TallyService server and the AuditIngest client (GRPC_KEEPALIVE_*). */
  readonly grpcKeepalive: GrpcKeepalive;
  readonly consumer: ConsumerSettings;
  readonly grpcShutdownMs: number;
}

export interface ConsumerSettings {
  /** Unique per replica: the name this process reads the `tally` group as. @default `<hostname>-<pid>` */
  readonly consumerName: string;
  /** Entries per XREADGROUP and per PostgreSQL transaction. @default 2000 */
  readonly batchSize: number;
  /**
   * Lanes (batches in flight at once) in this process, each reading the group as
   * `<consumerName>#<lane>` on its own connection (WORKER_CONCURRENCY). @default 2
   */
  readonly concurrency: number;
  /** How long one XREADGROUP blocks waiting for entries. @default 1000 */
  readonly blockMs: number;
  /**
   * The shortest time between two partial batches, across the lanes (BATCH_INTERVAL_MS): a read
   * that returns less than a full batch waits for the next free slot, then takes what arrived.
   * Receipts reach a final status up to this much later (one more interval per other lane holding an
   * earlier slot); 0 applies every read at once. @default 25
   */
  readonly batchIntervalMs: number;
  /** Pending entries idle longer than this are claimed from (presumably dead) consumers. @default 30000 */
  readonly claimIdleMs: number;
  /** How often to look for claimable entries. @default 5000 */
  readonly claimIntervalMs: number;
  /**
   * Consumers idle this long that own no pending entries are deleted from the group, by any replica
   * (CONSUMER_DELETE_IDLE_MS): the names of processes that are gone. Must exceed BLOCK_MS, so a
   * live reader parked in XREADGROUP BLOCK never qualifies. @default 600000
   */
  readonly consumerDeleteIdleMs: number;
  /** Width of the rolling votes/s window. @default 5 */
  readonly windowSeconds: number;
  /** RECEIPT_TTL_SECONDS: receipt hashes expire this long after their last change; the vote subgraph reads the same setting. @default 86400 */
  readonly receiptTtlSeconds: number;
}

export interface ConfigContext {
  readonly pid: number;
  readonly isTty: boolean;
}

export function loadConfig(env: Env, context: ConfigContext): WorkerConfig {
  // Its one-time wait after a small read is what BATCH_INTERVAL_MS now decides; honouring both would
  // leave two knobs that fight, and ignoring it would hide that a tuned value no longer applies.
  if (readOptionalString(env, 'BATCH_LINGER_MS') !== undefined)
    throw new ConfigError('BATCH_LINGER_MS', 'is no longer read: BATCH_INTERVAL_MS replaces it (see docs/configuration.md); remove it');
  const consumer: ConsumerSettings = {
    consumerName: readString(env, 'CONSUMER_NAME', `${hostname()}-${context.pid}`),
    batchSize: readInt(env, 'BATCH_SIZE', 2000, { min: 1, max: 50_000 }),
    concurrency: readInt(env, 'WORKER_CONCURRENCY', 2, { min: 1, max: 32 }),
    blockMs: readInt(env, 'BLOCK_MS', 1000, { min: 1, max: 60_000 }),
    batchIntervalMs: readInt(env, 'BATCH_INTERVAL_MS', 25, { min: 0, max: 1000 }),
    claimIdleMs: readInt(env, 'CLAIM_IDLE_MS', 30_000, { min: 0, max: MAX_TIMER_MS }),
    claimIntervalMs: readInt(env, 'CLAIM_INTERVAL_MS', 5000, { min: 10, max: MAX_TIMER_MS }),
    consumerDeleteIdleMs: readInt(env, 'CONSUMER_DELETE_IDLE_MS', DEFAULT_CONSUMER_DELETE_IDLE_MS, { min: 1000, max: MAX_TIMER_MS }),
    windowSeconds: readInt(env, 'WINDOW_SECONDS', 5, { min: 1, max: 3600 }),
    receiptTtlSeconds: readReceiptTtlSeconds(env),
  };
  // Redis counts a parked XREADGROUP BLOCK as idle time: a bound at or below BLOCK_MS could
  // delete a live reader mid-block (harmless for entries, since only consumers without pending
  // entries are deleted, but it churns the group and races the read).
  if (consumer.consumerDeleteIdleMs <= consumer.blockMs)
    throw new ConfigError('CONSUMER_DELETE_IDLE_MS', `must be greater than BLOCK_MS (${consumer.blockMs}), got ${consumer.consumerDeleteIdleMs}`);
  const grpcShutdownMs = readInt(env, 'GRPC_SHUTDOWN_MS', 5000, { min: 0, max: MAX_TIMER_MS });
  const basics = readServiceBasics(env, { port: 4004, stdoutIsTty: context.isTty });
  const { shutdownTimeoutMs, drainDelayMs } = basics;
  // The shutdown waits out the drain delay, the gRPC grace, a blocking read, then the batch in
  // flight, then the audit client's close (what it cannot confirm by then stays in its spool): a
  // fuse no longer than the fixed parts would blow on every shutdown with a stream open and the
  // audit service away, cutting the batch.
  const fixedShutdownMs = drainDelayMs + grpcShutdownMs + consumer.blockMs + AUDIT_CLIENT_CLOSE_TIMEOUT_MS;
  if (shutdownTimeoutMs <= fixedShutdownMs) {
    throw new ConfigError(
      'SHUTDOWN_TIMEOUT_MS',
      `must be more than SHUTDOWN_DRAIN_MS + GRPC_SHUTDOWN_MS + BLOCK_MS + the audit client's close (${drainDelayMs} + ${grpcShutdownMs} + ${consumer.blockMs} + ${AUDIT_CLIENT_CLOSE_TIMEOUT_MS} = ${fixedShutdownMs}), leaving time for the batch in flight, got ${shutdownTimeoutMs}`,
    );
  }
  return Object.freeze({
    ...basics,
    grpcPort: readPort(env, 'GRPC_PORT', 50051),
    databaseUrl: readDatabaseUrl(env),
    redisUrl: readRedisUrl(env),
    redisPrefix: readString(env, 'REDIS_PREFIX', 'vm:'),
    auditGrpcUrl: readGrpcAddress(env, 'AUDIT_GRPC_URL', '127.0.0.1:50052'),
    grpcKeepalive: readGrpcKeepalive(env),
    consumer: Object.freeze(consumer),
    grpcShutdownMs,
  });
}
