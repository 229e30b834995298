// Typed readers for environment variables. Each process's own `config.ts` composes these, so a bad
// value stops the process with one message that names the variable, what it holds and what it wants.

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function readString(env: Env, name: string, fallback?: string): string {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) throw new ConfigError(name, 'is required but not set');
  return value;
}

export function readOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

/**
 * The range every whole-number setting must have: both ends required, so no value is accepted only
 * because nobody thought of it (RECEIPT_TTL_SECONDS=100000000000000000000 used to be). Each refusal
 * says the allowed range; docs/configuration.md lists them.
 */
export interface IntRange {
  readonly min: number;
  readonly max: number;
}

export function readInt(env: Env, name: string, fallback: number, range: IntRange): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const allowed = `(allowed: ${range.min} to ${range.max})`;
  if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got "${value}" ${allowed}`);
  const parsed = Number(value);
  if (parsed < range.min) throw new ConfigError(name, `must be at least ${range.min}, got ${parsed} ${allowed}`);
  if (parsed > range.max) throw new ConfigError(name, `must be at most ${range.max}, got ${value} ${allowed}`);
  return parsed;
}

export function readPort(env: Env, name: string, fallback: number): number {
  return readInt(env, name, fallback, { min: 0, max: 65535 });
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${value}"`);
}

export function readUrl(env: Env, name: string, fallback?: string, protocols?: readonly string[]): string {
  const value = readString(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${redactUrl(value)}"`);
  }
  if (protocols && !protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return value;
}

export function readOneOf<const T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const value = raw(env, name) ?? fallback;
  const match = choices.find((choice) => choice === value);
  if (match === undefined) throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${value}"`);
  return match;
}

/** Hides the password of a connection URL so it can be logged or printed in an error. */
export function redactUrl(value: string): string {
  return value.replace(/\/\/([^:/@]+):([^@]+)@/, '//$1:***@');
}

/** Public development value of IDENTITY_SECRET; never accepted when NODE_ENV=production. */
export const DEV_IDENTITY_SECRET = 'votemesh-dev-identity-secret-change-me';

/** Reads IDENTITY_SECRET, the HMAC key the gateway and subgraphs share (docs/contracts/identity.md). */
export function readIdentitySecret(env: Env, production: boolean): { identitySecret: string; identitySecretIsDefault: boolean } {
  const secret = readOptionalString(env, 'IDENTITY_SECRET');
  if (production && secret === undefined) {
    throw new ConfigError('IDENTITY_SECRET', 'is required when NODE_ENV=production (the dev default is public)');
  }
  if (secret !== undefined && secret.length < 16) throw new ConfigError('IDENTITY_SECRET', 'must be at least 16 characters');
  return { identitySecret: secret ?? DEV_IDENTITY_SECRET, identitySecretIsDefault: secret === undefined };
}

/** `host:port` of a gRPC peer (an optional `dns:` scheme is allowed; an IPv6 host in brackets). */
export function readGrpcAddress(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+):(\d{1,5})$/.exec(value.replace(/^dns:(\/\/\/)?/, ''));
  const port = Number(match?.[1] ?? 0);
  // Out of range, the process would start and its client never connect (the audit client then
  // buffers and finally drops events): refused here instead.
  if (port < 1 || port > 65_535) throw new ConfigError(name, `must be host:port with a port from 1 to 65535, got "${value}"`);
  return value;
}

export interface GrpcKeepalive {
  /** GRPC_KEEPALIVE_TIME_MS: a connection is pinged after this long without a ping answered. @default 10000 */
  readonly timeMs: number;
  /** GRPC_KEEPALIVE_TIMEOUT_MS: an unanswered ping drops the connection after this long. @default 5000 */
  readonly timeoutMs: number;
}

export const DEFAULT_GRPC_KEEPALIVE: GrpcKeepalive = Object.freeze({ timeMs: 10_000, timeoutMs: 5000 });

/**
 * The longest delay any timer setting takes: a day is far beyond any useful timeout, interval or
 * keepalive, and it keeps every value under setTimeout's 2^31 - 1 ms limit (above it Node fires
 * after 1 ms: an instant timeout, a spinning loop, a ping storm).
 */
export const MAX_TIMER_MS = 86_400_000;

/**
 * RECEIPT_TTL_SECONDS: how long a receipt hash lives after its last change. The vote subgraph sets
 * it when it writes the PENDING receipt and the worker when it writes the final status, so the two
 * must read it alike: this is the one definition. At least a minute, so a receipt outlives the
 * castVote answer that names it and the batch that settles it; at most a year, far past any use.
 */
export const RECEIPT_TTL_SECONDS: { readonly default: number } & IntRange = Object.freeze({ default: 86_400, min: 60, max: 31_536_000 });

export function readReceiptTtlSeconds(env: Env): number {
  return readInt(env, 'RECEIPT_TTL_SECONDS', RECEIPT_TTL_SECONDS.default, RECEIPT_TTL_SECONDS);
}

/**
 * SHUTDOWN_TIMEOUT_MS: the fuse on every process's graceful shutdown (lifecycle.ts), read the same
 * way by all five. Ten seconds leaves a Kubernetes pod (30 s grace by default) time to log what was
 * still open before SIGKILL; at least 100 ms, so the fuse is not blown before the first step runs.
 */
export const SHUTDOWN_TIMEOUT_MS: { readonly default: number } & IntRange = Object.freeze({ default: 10_000, min: 100, max: MAX_TIMER_MS });

export function readShutdownTimeoutMs(env: Env): number {
  return readInt(env, 'SHUTDOWN_TIMEOUT_MS', SHUTDOWN_TIMEOUT_MS.default, SHUTDOWN_TIMEOUT_MS);
}

/**
 * SHUTDOWN_TIMEOUT_MS with SHUTDOWN_DRAIN_MS, which the shutdown spends first (readDrainDelayMs): a
 * fuse no longer than the drain delay would blow before a single listener closed, on every shutdown.
 */
export function readShutdownSettings(env: Env): { readonly shutdownTimeoutMs: number; readonly drainDelayMs: number } {
  const shutdownTimeoutMs = readShutdownTimeoutMs(env);
  const drainDelayMs = readDrainDelayMs(env);
  if (shutdownTimeoutMs <= drainDelayMs) {
    throw new ConfigError('SHUTDOWN_TIMEOUT_MS', `must be more than SHUTDOWN_DRAIN_MS (${drainDelayMs}), got ${shutdownTimeoutMs}`);
  }
  return { shutdownTimeoutMs, drainDelayMs };
}

/** pino's levels: LOG_LEVEL of every process. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** HTTP/2 keepalive of every gRPC client and server of a process (common/src/grpc/keepalive.ts). */
export function readGrpcKeepalive(env: Env): GrpcKeepalive {
  return Object.freeze({
    timeMs: readInt(env, 'GRPC_KEEPALIVE_TIME_MS', DEFAULT_GRPC_KEEPALIVE.timeMs, { min: 1, max: MAX_TIMER_MS }),
    timeoutMs: readInt(env, 'GRPC_KEEPALIVE_TIMEOUT_MS', DEFAULT_GRPC_KEEPALIVE.timeoutMs, { min: 1, max: MAX_TIMER_MS }),
  });
}

export interface ServiceBasics {
  readonly host: string;
  readonly port: number;
  readonly production: boolean;
  readonly logLevel: string;
  readonly logPretty: boolean;
  readonly shutdownTimeoutMs: number;
  /** SHUTDOWN_DRAIN_MS: how long /readyz answers "draining" before the listeners close. */
  readonly drainDelayMs: number;
}

/** The settings every votemesh process has; `stdoutIsTty` picks the default LOG_FORMAT. */
export function readServiceBasics(env: Env, defaults: { port: number; stdoutIsTty: boolean }): ServiceBasics {
  return {
    host: readString(env, 'HOST', '0.0.0.0'),
    port: readPort(env, 'PORT', defaults.port),
    production: env['NODE_ENV'] === 'production',
    logLevel: readOneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    logPretty: readOneOf(env, 'LOG_FORMAT', ['pretty', 'json'], defaults.stdoutIsTty ? 'pretty' : 'json') === 'pretty',
    ...readShutdownSettings(env),
  };
}

/**
 * At shutdown /readyz answers "draining" first and the listeners stay open this long, so endpoint
 * updates reach every proxy before connections are refused. 0 (the default) suits one process on a
 * laptop; under Kubernetes set a few seconds (and keep the shutdown fuse above it).
 */
export function readDrainDelayMs(env: Env): number {
  return readInt(env, 'SHUTDOWN_DRAIN_MS', 0, { min: 0, max: 60_000 });
}

export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/votemesh';

export function readDatabaseUrl(env: Env): string {
  return readUrl(env, 'DATABASE_URL', DEFAULT_DATABASE_URL, ['postgresql:', 'postgres:']);
}

export function readRedisUrl(env: Env): string {
  return readUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']);
}
