// The result subgraph's configuration, read once from the environment by main.ts. Every variable
// has a default that works on a laptop; a bad value throws ConfigError naming the variable.
import { ConfigError, readInt, readOneOf, readPort, readString, readUrl, type Env, readIdentitySecret } from '@votemesh/common/config';

/** The development identity secret shared by every process unless IDENTITY_SECRET is set. */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';

export interface ResultConfig {
  readonly host: string;
  readonly port: number;
  readonly production: boolean;
  readonly logLevel: string;
  readonly logPretty: boolean;
  readonly databaseUrl: string;
  /** host:port of the worker's TallyService. */
  readonly tallyGrpcUrl: string;
  /** Deadline of one GetResults call. */
  readonly tallyDeadlineMs: number;
  /** At most one pollResults push per poll per this many ms (the newest state is always sent). */
  readonly coalesceMs: number;
  /** First and largest nominal delay before reopening a failed WatchResults stream. */
  readonly watchReconnectInitialMs: number;
  readonly watchReconnectMaxMs: number;
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
  readonly shutdownTimeoutMs: number;
}

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): ResultConfig {
  const production = env['NODE_ENV'] === 'production';
  const tallyGrpcUrl = readString(env, 'TALLY_GRPC_URL', '127.0.0.1:50051');
  if (!/^[^\s/:]+:\d{1,5}$/.test(tallyGrpcUrl.replace(/^dns:(\/\/\/)?/, ''))) {
    throw new ConfigError('TALLY_GRPC_URL', `must be host:port, got "${tallyGrpcUrl}"`);
  }
  const watchReconnectInitialMs = readInt(env, 'WATCH_RECONNECT_INITIAL_MS', 100, { min: 1, max: 60_000 });
  const watchReconnectMaxMs = readInt(env, 'WATCH_RECONNECT_MAX_MS', 5000, { min: 1, max: 300_000 });
  if (watchReconnectMaxMs < watchReconnectInitialMs) {
    throw new ConfigError('WATCH_RECONNECT_MAX_MS', `must be at least WATCH_RECONNECT_INITIAL_MS (${watchReconnectInitialMs}), got ${watchReconnectMaxMs}`);
  }
  return Object.freeze({
    host: readString(env, 'HOST', '0.0.0.0'),
    port: readPort(env, 'PORT', 4002),
    production,
    logLevel: readString(env, 'LOG_LEVEL', 'info'),
    logPretty: readOneOf(env, 'LOG_FORMAT', ['pretty', 'json'], stdoutIsTty ? 'pretty' : 'json') === 'pretty',
    databaseUrl: readUrl(env, 'DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/votemesh', ['postgresql:', 'postgres:']),
    tallyGrpcUrl,
    tallyDeadlineMs: readInt(env, 'TALLY_DEADLINE_MS', 2000, { min: 50, max: 60_000 }),
    coalesceMs: readInt(env, 'COALESCE_MS', 100, { min: 0, max: 60_000 }),
    watchReconnectInitialMs,
    watchReconnectMaxMs,
    ...readIdentitySecret(env, production),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, { min: 100 }),
  });
}
