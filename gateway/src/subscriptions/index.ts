// Federated subscriptions for the gateway's one `/graphql` endpoint: graphql-ws upgrades and
// SSE / multipart streams in, deduplicated graphql-ws subscriptions to the owning subgraphs out,
// each event completed through the query plan. Contract: docs/contracts/subscriptions.md.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLDataSource } from '@apollo/gateway';
import type { Identity } from '@votemesh/common/contracts/identity';
import type { Logger } from '@votemesh/common/logger';
import type { Registry } from 'prom-client';
import type { AuthPolicy, FieldAuth } from '../supergraph/auth-policy.ts';
import { createClientLimiter, peerAddress, type ClientAddress } from './client-limiter.ts';
import { createDataSources } from './data-sources.ts';
import { createEventResolver } from './event-resolver.ts';
import { createHttpStreamAdapter } from './http-adapter.ts';
import { createSubscriptionMetrics } from './metrics.ts';
import { createOperationStarter, type AuthenticatedCaller, type ExecuteOperation } from './operations.ts';
import { resolveLimits, type SubscriptionLimits } from './options.ts';
import { createSubscriptionPlanner, type SubscriptionPlanner } from './planner.ts';
import { createSubscriptionHub, type UpstreamStats } from './subscription-hub.ts';
import { createUpstreamConnector } from './upstream.ts';
import { createWsAdapter } from './ws-adapter.ts';

export { CloseCode, DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './options.ts';
export type { AuthenticatedCaller, ExecuteOperation, OperationRequest } from './operations.ts';
export type { SubscriberSink, UpstreamStats } from './subscription-hub.ts';

export interface SubscriptionServiceDeps {
  /** The supergraph SDL (security links stripped or not). */
  readonly supergraphSdl: string;
  /** Subgraph name → HTTP URL (overrides applied). Entity fetches go here. */
  readonly subgraphUrls: ReadonlyMap<string, string>;
  /** Subgraph name → graphql-ws URL. @default each HTTP URL with http(s) → ws(s) */
  readonly subgraphWsUrls?: ReadonlyMap<string, string>;
  /** Verifies a bearer token: undefined for none, throws VotemeshError TOKEN_* when bad. */
  readonly authenticate: (token?: string) => Promise<AuthenticatedCaller | undefined>;
  readonly getFieldAuth: (typeName: string, fieldName: string) => FieldAuth;
  /** Signs the identity forwarded to subgraphs (`x-votemesh-identity`, `connectionParams.identity`). */
  readonly signIdentity: (identity: Identity) => Promise<string>;
  readonly logger: Logger;
  readonly metricsRegistry: Registry;
  readonly limits?: Partial<SubscriptionLimits>;
  /**
   * Subscription root fields whose every event is the whole current state (schema coordinates,
   * `Subscription.pollResults`): a client joining a shared upstream gets the latest state at once.
   * Fields not listed (feeds, change streams) are never replayed. @default none
   */
  readonly replayFields?: readonly string[];
  /** Runs queries/mutations that arrive on a socket or stream through the HTTP path. Without it
   * they get a clear error pointing to HTTP POST. */
  readonly executeOperation?: ExecuteOperation;
  /** How anonymous clients are counted. @default the TCP peer address */
  readonly clientAddress?: ClientAddress;
  /** Refuse anonymous connections (AUTH_REQUIRED_FOR_GRAPH): WS closes 4403 at connection_init,
   * SSE/multipart get 401, both UNAUTHENTICATED as on HTTP. @default false */
  readonly requireIdentity?: boolean;
  /** Data sources for entity fetches (the gateway passes its own). @default the gateway's transport (data-sources.ts), one per subgraph */
  readonly dataSources?: Readonly<Record<string, GraphQLDataSource>>;
}

export interface SubscriptionStats {
  /** Open WebSockets + SSE/multipart streams. */
  readonly connections: number;
  /** Active client subscriptions. */
  readonly subscriptions: number;
  /** Open upstream subscriptions after deduplication. */
  readonly upstreams: readonly UpstreamStats[];
  /** Open graphql-ws sockets to subgraphs. */
  readonly upstreamSockets: number;
}

export interface SubscriptionService {
  /** For `upgrade` events on `/graphql`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** For `/graphql` requests; serves `Accept: text/event-stream` and multipart subscriptions,
   * returns false for anything else (the query path handles it). `body`: the POST body, when the
   * gateway already read it to choose the transport (http/graphql-route.ts). */
  handleSse(req: IncomingMessage, res: ServerResponse, body?: string): Promise<boolean>;
  /** Stops accepting, flushes in-flight events, closes clients (WS 1001), closes upstreams. Idempotent. */
  close(): Promise<void>;
  stats(): SubscriptionStats;
}

export function createSubscriptionService(deps: SubscriptionServiceDeps): SubscriptionService {
  const limits = resolveLimits(deps.limits);
  const logger = deps.logger.child({ component: 'subscriptions' });
  const planner = createSubscriptionPlanner({ supergraphSdl: deps.supergraphSdl, getFieldAuth: deps.getFieldAuth, cacheSize: limits.planCacheSize });
  const wsUrls = deps.subgraphWsUrls ?? new Map([...deps.subgraphUrls].map(([name, url]) => [name, url.replace(/^http/, 'ws')]));
  for (const name of planner.subgraphNames) {
    if (!deps.subgraphUrls.has(name)) throw new Error(`No URL for subgraph "${name}" of the supergraph`);
  }
  const connector = createUpstreamConnector({
    wsUrls,
    signIdentity: deps.signIdentity,
    logger,
    reconnectWindowMs: limits.upstreamReconnectWindowMs,
    maxBackoffMs: limits.upstreamMaxBackoffMs,
    connectTimeoutMs: limits.upstreamConnectTimeoutMs,
    keepAliveMs: limits.keepAliveMs,
  });
  const ownDataSources = deps.dataSources ? undefined : createDataSources(deps.subgraphUrls);
  const resolver = createEventResolver({
    planner,
    dataSources: deps.dataSources ?? ownDataSources?.byName ?? {},
    logger: {
      debug: (message: unknown) => logger.debug(String(message)),
      info: (message: unknown) => logger.info(String(message)),
      warn: (message: unknown) => logger.warn(String(message)),
      error: (message: unknown) => logger.error(String(message)),
    },
  });
  // Gauges read the adapters and hub below at scrape time.
  const metrics = createSubscriptionMetrics(deps.metricsRegistry, {
    wsConnections: () => ws.connectionCount(),
    sseConnections: () => http.streamCount(),
    subscriptions: () => hub.subscriptionCount(),
    upstreamSubscriptions: () => hub.upstreams().length,
  });
  const hub = createSubscriptionHub({
    connector,
    replayFields: checkReplayFields(deps.replayFields ?? [], planner, logger),
    resolver,
    signIdentity: deps.signIdentity,
    logger,
    counters: {
      eventResolved: () => metrics.events.inc(),
      messagesSent: (count) => {
        if (count > 0) metrics.messages.inc(count);
      },
      tallyDelivered: (seconds) => metrics.tallyDeliverySeconds.observe(seconds),
    },
  });
  // `isEmpty: false` even for a graph without markers: the walk then finds every field public, at
  // the cost of one walk per subscription started.
  const policy: AuthPolicy = { isEmpty: false, getFieldAuth: deps.getFieldAuth };
  const starter = createOperationStarter({ planner, hub, executeOperation: deps.executeOperation, policy });
  const limiter = createClientLimiter(limits.maxConnectionsPerClient);
  const adapterOptions = {
    starter,
    authenticate: deps.authenticate,
    limiter,
    clientAddress: deps.clientAddress ?? peerAddress,
    requireIdentity: deps.requireIdentity ?? false,
    limits,
    logger,
    onSlowConsumer: () => metrics.slowConsumersDropped.inc(),
  };
  const ws = createWsAdapter(adapterOptions);
  const http = createHttpStreamAdapter(adapterOptions);

  let closing: Promise<void> | undefined;
  return {
    handleUpgrade: (req, socket, head) => ws.handleUpgrade(req, socket, head),
    handleSse: (req, res, body) => http.handle(req, res, body),
    close() {
      closing ??= (async () => {
        // Refuse newcomers first: the flush can take up to drainTimeoutMs, and a client accepted
        // meanwhile would only be subscribed (opening upstreams the flush then waits on) to be
        // closed with 1001 a moment later.
        ws.stopAccepting();
        http.stopAccepting();
        await hub.flush(limits.drainTimeoutMs);
        await Promise.all([ws.close(), http.close()]);
        hub.close();
        await connector.close();
        await ownDataSources?.close();
        logger.info('subscriptions closed');
      })();
      return closing;
    },
    stats: () => ({
      connections: ws.connectionCount() + http.streamCount(),
      subscriptions: hub.subscriptionCount(),
      upstreams: hub.upstreams(),
      upstreamSockets: connector.socketCount(),
    }),
  };
}

/** Keeps the coordinates that name a subscription root field of this supergraph; logs the others. */
function checkReplayFields(coordinates: readonly string[], planner: SubscriptionPlanner, logger: Logger): ReadonlySet<string> {
  const root = planner.apiSchema.getSubscriptionType();
  const known = new Set(root ? Object.keys(root.getFields()).map((field) => `${root.name}.${field}`) : []);
  const unknown = coordinates.filter((coordinate) => !known.has(coordinate));
  if (unknown.length > 0) logger.info({ unknown }, 'replay fields that are not subscription fields of this supergraph are ignored');
  return new Set(coordinates.filter((coordinate) => known.has(coordinate)));
}
