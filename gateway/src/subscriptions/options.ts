// Tunables of the subscription service. `main.ts` reads them from the environment through the
// gateway's config; tests pass small values. Every option has its default here and in
// docs/contracts/subscriptions.md.

export interface SubscriptionLimits {
  /** A WebSocket must send `connection_init` within this time or is closed 4408. @default 3000 */
  readonly connectionInitTimeoutMs: number;
  /** Interval of WebSocket ping frames and SSE/multipart heartbeats; a WebSocket that has not
   * answered the previous ping by the next one is terminated. @default 15000 */
  readonly keepAliveMs: number;
  /** Active operations one WebSocket may hold; the next `subscribe` gets an `error`. @default 100 */
  readonly maxSubscriptionsPerConnection: number;
  /** Open WebSockets + SSE/multipart streams one client may hold (by identity subject, else by IP);
   * the next is refused (WS close 4429, HTTP 429). @default 20 */
  readonly maxConnectionsPerClient: number;
  /** A consumer whose unsent bytes would exceed this with the next message is dropped (WS close
   * 4413, stream ended); see overflowsBuffer. @default 1048576 */
  readonly maxBufferedBytes: number;
  /** Largest accepted WebSocket message or HTTP request body. @default 65536 */
  readonly maxMessageBytes: number;
  /** How long the gateway tries to reconnect a lost subgraph WebSocket before it ends the affected
   * subscriptions with UPSTREAM_UNAVAILABLE. @default 30000 */
  readonly upstreamReconnectWindowMs: number;
  /** Cap of one reconnect backoff step (exponential from 250 ms, with full jitter). @default 5000 */
  readonly upstreamMaxBackoffMs: number;
  /** A subgraph WebSocket attempt that has not completed its upgrade, then its `connection_ack`,
   * within this time each is given up (and retried within the reconnect window). @default 10000 */
  readonly upstreamConnectTimeoutMs: number;
  /** Planned operations kept (LRU by document + operation name). @default 500 */
  readonly planCacheSize: number;
  /** On close(), how long to wait for socket buffers to drain before closing 1001. @default 2000 */
  readonly drainTimeoutMs: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = Object.freeze({
  connectionInitTimeoutMs: 3000,
  keepAliveMs: 15_000,
  maxSubscriptionsPerConnection: 100,
  maxConnectionsPerClient: 20,
  maxBufferedBytes: 1024 * 1024,
  maxMessageBytes: 64 * 1024,
  upstreamReconnectWindowMs: 30_000,
  upstreamMaxBackoffMs: 5000,
  upstreamConnectTimeoutMs: 10_000,
  planCacheSize: 500,
  drainTimeoutMs: 2000,
});

export function resolveLimits(overrides: Partial<SubscriptionLimits> = {}): SubscriptionLimits {
  const limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`subscription limit ${name} must be a positive number, got ${value}`);
  }
  return Object.freeze(limits);
}

/**
 * The slow-consumer rule: true when writing `messageBytes` more would leave more than
 * `maxBufferedBytes` unsent. The message about to be written counts, so what waits never exceeds the
 * limit (checking the buffer alone let it overshoot by one message). An empty buffer takes any
 * message: its consumer is keeping up, and a result larger than the limit would otherwise drop every
 * subscriber it goes to.
 */
export function overflowsBuffer(bufferedBytes: number, messageBytes: number, maxBufferedBytes: number): boolean {
  return bufferedBytes > 0 && bufferedBytes + messageBytes > maxBufferedBytes;
}

/** WebSocket close codes the gateway uses (docs/contracts/subscriptions.md). 44xx/4500 follow
 * graphql-ws PROTOCOL.md; 4413 is votemesh's own. */
export const CloseCode = {
  /** Shutdown or drain: reconnect elsewhere. */
  GoingAway: 1001,
  /** A message over `maxMessageBytes` (RFC 6455's "message too big"). */
  MessageTooBig: 1009,
  /** Malformed message (not JSON, unknown type, missing field). */
  BadRequest: 4400,
  /** `subscribe` before `connection_ack`. */
  Unauthorized: 4401,
  /** The token in `connection_init` was refused, or the connection's token expired. */
  Forbidden: 4403,
  /** Subprotocol other than `graphql-transport-ws`. */
  SubprotocolNotAcceptable: 4406,
  /** No `connection_init` in time. */
  ConnectionInitialisationTimeout: 4408,
  /** `subscribe` with an id that is still active. */
  SubscriberAlreadyExists: 4409,
  /** Slow consumer: more than `maxBufferedBytes` unsent. */
  SlowConsumer: 4413,
  /** A second `connection_init`, or more connections than `maxConnectionsPerClient`. */
  TooManyRequests: 4429,
  /** Handling a message failed unexpectedly (a bug; logged). */
  InternalServerError: 4500,
} as const;
