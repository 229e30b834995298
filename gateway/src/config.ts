// The gateway's configuration, read once from the environment by main.ts. Every variable has a
// default that works on a laptop; a bad value throws ConfigError naming the variable.
import {
  ConfigError,
  readBool,
  readInt,
  MAX_TIMER_MS,
  readOneOf,
  readOptionalString,
  readServiceBasics,
  readString,
  readUrl,
  type Env,
  readIdentitySecret,
  type ServiceBasics,
} from '@votemesh/common/config';

export const AUTH_MODES = ['dev', 'oidc', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** The fixed development identity secret every process shares unless IDENTITY_SECRET is set. */
export { DEV_IDENTITY_SECRET } from '@votemesh/common/config';
import { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './subscriptions/options.ts';
import type { CorsOrigins } from './http/cors.ts';
export const DEV_ISSUER = 'urn:votemesh:dev-issuer';
export const DEFAULT_AUDIENCE = 'votemesh';

export interface AuthConfig {
  /** dev: built-in issuer of anonymous voter tokens; oidc: any OIDC issuer; none: no tokens. */
  readonly mode: AuthMode;
  readonly issuer: string;
  readonly audience: string;
  /** oidc only; unset → discovered from `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUrl: string | undefined;
  readonly clockToleranceSeconds: number;
  /** When true every /graphql request needs a valid token, even for public fields. */
  readonly requiredForGraph: boolean;
  readonly tokenTtlSeconds: number;
  /** dev only: a private ES256 JWK (JSON) so replicas share one key; unset → generated. */
  readonly devIssuerPrivateJwk: string | undefined;
  /** dev only: the secret that buys an admin token at POST /auth/token; unset → no admin tokens. */
  readonly adminBootstrapSecret: string | undefined;
}

/**
 * Subscription root fields whose every event is the whole current state, replayed to a client that
 * joins a shared upstream (SUBSCRIPTION_REPLAY_FIELDS, comma-separated schema coordinates; empty
 * for none). votemesh's own: `pollResults` ("the results now, then every new state") and
 * `voteReceipt` (the receipt now, then each change). Not `pollStatus` (changes only) nor
 * `auditEvents` (a feed). Coordinates a supergraph does not have are ignored (logged at start).
 */
export const DEFAULT_SUBSCRIPTION_REPLAY_FIELDS: readonly string[] = Object.freeze(['Subscription.pollResults', 'Subscription.voteReceipt']);
const COORDINATE = /^[_A-Za-z][_0-9A-Za-z]*\.[_A-Za-z][_0-9A-Za-z]*$/;

/** HOST, PORT, NODE_ENV, LOG_LEVEL, LOG_FORMAT, SHUTDOWN_TIMEOUT_MS and SHUTDOWN_DRAIN_MS are read as in every process (ServiceBasics). */
export interface GatewayConfig extends ServiceBasics {
  readonly subscriptionLimits: SubscriptionLimits;
  /** SUBSCRIPTION_REPLAY_FIELDS (see DEFAULT_SUBSCRIPTION_REPLAY_FIELDS). */
  readonly subscriptionReplayFields: readonly string[];
  readonly supergraphPath: string;
  /** Subgraph URL overrides from SUBGRAPH_URL_<NAME>, keyed by the upper-cased subgraph name. */
  readonly subgraphUrlOverrides: Readonly<Record<string, string>>;
  readonly identitySecret: string;
  readonly identitySecretIsDefault: boolean;
  readonly auth: AuthConfig;
  readonly redisUrl: string;
  readonly redisPrefix: string;
  /** 0 disables rate limiting. */
  readonly rateLimitPerMinute: number;
  /** POST /auth/token per client address; 0 disables. Its own budget: each token is a new voter. */
  readonly tokenRateLimitPerMinute: number;
  readonly trustForwardedFor: boolean;
  /** With trustForwardedFor: the client is the X-Forwarded-For entry this many from the right. */
  readonly trustedProxyHops: number;
  readonly upstreamTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly introspection: boolean;
  /** APOLLO_TELEMETRY_DISABLED (default true): keep @apollo/gateway's anonymous usage metrics to Apollo off. */
  readonly apolloTelemetryDisabled: boolean;
  /** CORS_ORIGINS: browser origins that may call /graphql and the dev issuer (http/cors.ts). */
  readonly corsOrigins: CorsOrigins;
  /** METRICS_CLIENT_NAMES: apollographql-client-name values kept as a metric label (empty: none). */
  readonly metricsClientNames: readonly string[];
}

const SUBGRAPH_URL_PREFIX = 'SUBGRAPH_URL_';

/** `stdoutIsTty` picks the default LOG_FORMAT (pretty for a person at a terminal). */
export function loadConfig(env: Env, stdoutIsTty = false): GatewayConfig {
  const basics = readServiceBasics(env, { port: 4000, stdoutIsTty });
  const { production } = basics;
  const mode = readOneOf(env, 'AUTH_MODE', AUTH_MODES, 'dev');
  const auth: AuthConfig = {
    mode,
    issuer: mode === 'oidc' ? readUrl(env, 'AUTH_ISSUER', undefined, ['https:', 'http:']) : readString(env, 'AUTH_ISSUER', DEV_ISSUER),
    audience: readString(env, 'AUTH_AUDIENCE', DEFAULT_AUDIENCE),
    jwksUrl: readOptionalString(env, 'AUTH_JWKS_URL') === undefined ? undefined : readUrl(env, 'AUTH_JWKS_URL', undefined, ['https:', 'http:']),
    clockToleranceSeconds: readInt(env, 'AUTH_CLOCK_TOLERANCE_SECONDS', 5, { min: 0, max: 300 }),
    requiredForGraph: readBool(env, 'AUTH_REQUIRED_FOR_GRAPH', false),
    tokenTtlSeconds: readInt(env, 'TOKEN_TTL_SECONDS', 3600, { min: 10, max: 7 * 24 * 3600 }),
    devIssuerPrivateJwk: readOptionalString(env, 'DEV_ISSUER_PRIVATE_JWK'),
    adminBootstrapSecret: readOptionalString(env, 'ADMIN_BOOTSTRAP_SECRET'),
  };
  if (mode === 'none' && auth.requiredForGraph) {
    throw new ConfigError('AUTH_REQUIRED_FOR_GRAPH', 'cannot be true when AUTH_MODE=none (no token could ever verify)');
  }
  if (auth.adminBootstrapSecret !== undefined && auth.adminBootstrapSecret.length < 8) {
    throw new ConfigError('ADMIN_BOOTSTRAP_SECRET', 'must be at least 8 characters');
  }
  return Object.freeze({
    ...basics,
    supergraphPath: readString(env, 'SUPERGRAPH_PATH', './supergraph.graphql'),
    subgraphUrlOverrides: Object.freeze(readSubgraphUrlOverrides(env)),
    ...readIdentitySecret(env, production),
    auth: Object.freeze(auth),
    redisUrl: readUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisPrefix: readString(env, 'REDIS_PREFIX', 'vm:'),
    rateLimitPerMinute: readInt(env, 'RATE_LIMIT_PER_MINUTE', 6000, { min: 0, max: 1_000_000 }),
    tokenRateLimitPerMinute: readInt(env, 'TOKEN_RATE_LIMIT_PER_MINUTE', 60, { min: 0, max: 1_000_000 }),
    trustForwardedFor: readBool(env, 'TRUST_FORWARDED_FOR', false),
    trustedProxyHops: readInt(env, 'TRUSTED_PROXY_HOPS', 1, { min: 1, max: 32 }),
    upstreamTimeoutMs: readInt(env, 'UPSTREAM_TIMEOUT_MS', 10_000, { min: 1, max: MAX_TIMER_MS }),
    bodyLimitBytes: readInt(env, 'BODY_LIMIT_BYTES', 1_048_576, { min: 1024, max: 104_857_600 }),
    maxDepth: readInt(env, 'GRAPHQL_MAX_DEPTH', 12, { min: 1, max: 100 }),
    maxAliases: readInt(env, 'GRAPHQL_MAX_ALIASES', 30, { min: 0, max: 1000 }),
    introspection: readBool(env, 'GRAPHQL_INTROSPECTION', !production),
    // Apollo Gateway sends anonymous usage metrics to Apollo unless this is true; votemesh's default
    // is off (no egress a mesh would block and log, nothing leaves the cluster unasked).
    apolloTelemetryDisabled: readBool(env, 'APOLLO_TELEMETRY_DISABLED', true),
    corsOrigins: readCorsOrigins(env),
    metricsClientNames: readMetricsClientNames(env),
    subscriptionLimits: readSubscriptionLimits(env),
    subscriptionReplayFields: readReplayFields(env),
  });
}

/** Subscription limits (gateway/src/subscriptions/options.ts has the meaning of each). */
// Every timer setting stops at MAX_TIMER_MS (a day): above 2^31 - 1 ms setTimeout fires after 1 ms.
function readSubscriptionLimits(env: Env): SubscriptionLimits {
  const d = DEFAULT_SUBSCRIPTION_LIMITS;
  return Object.freeze({
    ...d,
    connectionInitTimeoutMs: readInt(env, 'WS_INIT_TIMEOUT_MS', d.connectionInitTimeoutMs, { min: 1, max: MAX_TIMER_MS }),
    keepAliveMs: readInt(env, 'SUBSCRIPTION_KEEPALIVE_MS', d.keepAliveMs, { min: 100, max: MAX_TIMER_MS }),
    maxSubscriptionsPerConnection: readInt(env, 'MAX_SUBSCRIPTIONS_PER_CONNECTION', d.maxSubscriptionsPerConnection, { min: 1, max: 10_000 }),
    maxConnectionsPerClient: readInt(env, 'MAX_CONNECTIONS_PER_CLIENT', d.maxConnectionsPerClient, { min: 1, max: 100_000 }),
    maxBufferedBytes: readInt(env, 'SUBSCRIPTION_MAX_BUFFERED_BYTES', d.maxBufferedBytes, { min: 1024, max: 1_073_741_824 }),
    upstreamReconnectWindowMs: readInt(env, 'UPSTREAM_RECONNECT_WINDOW_MS', d.upstreamReconnectWindowMs, { min: 1, max: MAX_TIMER_MS }),
  });
}

function readReplayFields(env: Env): readonly string[] {
  const raw = env['SUBSCRIPTION_REPLAY_FIELDS'];
  if (raw === undefined) return DEFAULT_SUBSCRIPTION_REPLAY_FIELDS;
  const fields = raw
    .split(',')
    .map((field) => field.trim())
    .filter((field) => field !== '');
  const bad = fields.find((field) => !COORDINATE.test(field));
  if (bad !== undefined)
    throw new ConfigError('SUBSCRIPTION_REPLAY_FIELDS', `must be comma-separated schema coordinates like Subscription.pollResults, got "${bad}"`);
  return Object.freeze(fields);
}

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_CLIENT_NAMES = 50;

/**
 * METRICS_CLIENT_NAMES: comma-separated apollographql-client-name values (e.g. `web,ios,android`)
 * the operation metrics keep as `client_name`; any other value is counted as "(other)". A short
 * list, since every name multiplies the operation series.
 */
function readMetricsClientNames(env: Env): readonly string[] {
  const names = (env['METRICS_CLIENT_NAMES'] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const bad = names.find((name) => !CLIENT_NAME.test(name));
  if (bad !== undefined)
    throw new ConfigError('METRICS_CLIENT_NAMES', `must be comma-separated client names of letters, digits, ".", "_" or "-" (at most 64 each), got "${bad}"`);
  if (names.length > MAX_CLIENT_NAMES) throw new ConfigError('METRICS_CLIENT_NAMES', `must list at most ${MAX_CLIENT_NAMES} names, got ${names.length}`);
  return Object.freeze([...new Set(names)]);
}

/**
 * CORS_ORIGINS: `*` (the default: auth is a bearer header, never a cookie, so any page may call the
 * graph with a token it holds) or comma-separated exact origins as a browser sends them in `Origin`
 * (scheme, host, optional port; no path, no trailing slash), e.g. `https://vote.example.com`.
 */
function readCorsOrigins(env: Env): CorsOrigins {
  const raw = readString(env, 'CORS_ORIGINS', '*');
  if (raw === '*') return '*';
  const origins = raw
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  const wanted = 'must be * or comma-separated origins like https://app.example.com or http://localhost:5173';
  if (origins.length === 0) throw new ConfigError('CORS_ORIGINS', `${wanted}, got "${raw}"`);
  for (const origin of origins) {
    if (origin === '*') throw new ConfigError('CORS_ORIGINS', `takes * alone (any origin) or a list of origins, not both, got "${raw}"`);
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (url?.origin === origin && (url.protocol === 'https:' || url.protocol === 'http:')) continue;
    // `https://app.example.com/` or `HTTPS://App.example.com:443` never equal what a browser sends.
    const hint = url && (url.protocol === 'https:' || url.protocol === 'http:') ? ` (the origin of that URL is ${url.origin})` : '';
    throw new ConfigError('CORS_ORIGINS', `${wanted}, got "${origin}"${hint}`);
  }
  return Object.freeze(origins);
}

/** SUBGRAPH_URL_VOTE=http://… overrides the URL the supergraph names for subgraph "vote". */
function readSubgraphUrlOverrides(env: Env): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(SUBGRAPH_URL_PREFIX) || name.length === SUBGRAPH_URL_PREFIX.length) continue;
    if (readOptionalString(env, name) === undefined) continue;
    overrides[name.slice(SUBGRAPH_URL_PREFIX.length)] = readUrl(env, name, undefined, ['http:', 'https:']);
  }
  return overrides;
}

/**
 * The subgraph URLs the gateway uses: the supergraph's, with the SUBGRAPH_URL_<NAME> overrides
 * applied. An override naming no subgraph of this supergraph (a typo, a renamed subgraph) stops
 * the gateway: ignoring it would send traffic to the URL the operator meant to replace.
 */
export function applySubgraphUrlOverrides(
  overrides: Readonly<Record<string, string>>,
  subgraphs: readonly { readonly name: string; readonly url: string }[],
): Map<string, string> {
  const known = new Set(subgraphs.map(({ name }) => subgraphEnvKey(name)));
  for (const key of Object.keys(overrides)) {
    if (known.has(key)) continue;
    const names = subgraphs.map(({ name }) => `${name} (${SUBGRAPH_URL_PREFIX}${subgraphEnvKey(name)})`).join(', ');
    throw new ConfigError(`${SUBGRAPH_URL_PREFIX}${key}`, `names no subgraph of the supergraph (SUPERGRAPH_PATH); its subgraphs are ${names}`);
  }
  return new Map(subgraphs.map(({ name, url }) => [name, overrides[subgraphEnvKey(name)] ?? url]));
}

/** The key a subgraph name takes in SUBGRAPH_URL_<NAME>: upper case, non-alphanumerics → `_`. */
export function subgraphEnvKey(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
