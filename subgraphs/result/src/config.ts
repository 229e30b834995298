// The result subgraph's configuration, read once from the environment by main.ts. Every variable
// has a default that works on a laptop; a bad value throws ConfigError naming the variable.
import {
  ConfigError,
  readDatabaseUrl,
  readGrpcAddress,
  readGrpcKeepalive,
  readIdentitySecret,
  readInt,
  readServiceBasics,
  type Env,
  type GrpcKeepalive,
  type ServiceBasics,
} from '@votemesh/common/config';

/** The development identity secret shared by every process unless IDENTITY_SECRET is set. */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';

export interface ResultConfig extends ServiceBasics {
  readonly databaseUrl: string;
  /** host:port of the worker's TallyService. */
  readonly tallyGrpcUrl: string;
  /** HTTP/2 pings on the TallyService channel (GRPC_KEEPALIVE_TIME_MS / GRPC_KEEPALIVE_TIMEOUT_MS). */
  readonly grpcKeepalive: GrpcKeepalive;
  /** Deadline of one GetResults call. */
  readonly tallyDeadlineMs: number;
  /** At most one pollResults push per poll per this many ms (the newest state is always sent). */
  readonly coalesceMs: number;
  /** First and largest nominal delay before reopening a failed WatchResults stream. */
  readonly watchReconnectInitialMs: number;
  readonly watchReconnectMaxMs: number;
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
}

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): ResultConfig {
  const basics = readServiceBasics(env, { port: 4002, stdoutIsTty });
  const { production } = basics;
  const tallyGrpcUrl = readGrpcAddress(env, 'TALLY_GRPC_URL', '127.0.0.1:50051');
  const watchReconnectInitialMs = readInt(env, 'WATCH_RECONNECT_INITIAL_MS', 100, { min: 1, max: 60_000 });
  const watchReconnectMaxMs = readInt(env, 'WATCH_RECONNECT_MAX_MS', 5000, { min: 1, max: 300_000 });
  if (watchReconnectMaxMs < watchReconnectInitialMs) {
    throw new ConfigError('WATCH_RECONNECT_MAX_MS', `must be at least WATCH_RECONNECT_INITIAL_MS (${watchReconnectInitialMs}), got ${watchReconnectMaxMs}`);
  }
  return Object.freeze({
    ...basics,
    databaseUrl: readDatabaseUrl(env),
    tallyGrpcUrl,
    grpcKeepalive: readGrpcKeepalive(env),
    tallyDeadlineMs: readInt(env, 'TALLY_DEADLINE_MS', 2000, { min: 50, max: 60_000 }),
    coalesceMs: readInt(env, 'COALESCE_MS', 100, { min: 0, max: 60_000 }),
    watchReconnectInitialMs,
    watchReconnectMaxMs,
    ...readIdentitySecret(env, production),
  });
}
