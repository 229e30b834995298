// startGateway: the votemesh gateway as one HTTP server, every dependency passed in.
//
//   POST|GET /graphql              queries and mutations (Apollo Server 5 + @apollo/gateway)
//   /graphql (upgrade, SSE)        subscriptions, when a SubscriptionTransport is plugged in
//   POST /auth/token, GET /.well-known/{jwks.json,openid-configuration}   dev issuer (AUTH_MODE=dev)
//   GET /healthz, /readyz, /metrics
//   CORS headers and preflights on /graphql and the dev issuer's routes (http/cors.ts, CORS_ORIGINS)
//
// ── Subscriptions hook (stable interface) ─────────────────────────────────────────────────────────
// `deps.subscriptions` is a factory called once the supergraph is loaded, before the server
// listens. It receives a SubscriptionHost (everything a transport needs: the ApolloGateway, the
// loaded supergraph and its auth policy, resolved subgraph URLs, authenticate, signIdentity,
// enforcePolicy) and returns a SubscriptionTransport:
//   - every HTTP `upgrade` on /graphql goes to `handleUpgrade(req, socket, head)`;
//   - a /graphql request the router gives the streams (http/graphql-route.ts: a client that reads
//     only text/event-stream or multipart subscriptions, or a subscription from one that also reads
//     JSON) goes to `handleSse(req, res, body?)`, with the POST body when the router read it; if it
//     resolves false the request continues as a normal query/mutation. The `x-request-id` and CORS
//     response headers are already set on `res`.
//   - `close()` runs first at shutdown (close sockets with going-away, end streams).
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloGateway, type GraphQLDataSource } from '@apollo/gateway';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import type { Registry } from 'prom-client';
import type { Logger } from '@votemesh/common/logger';
import { createHttpServer, handleProbe, listen, sendJson } from '@votemesh/common/http-server';
import { createReadiness, type ReadinessCheck } from '@votemesh/common/readiness';
import { identitySecretKey, type Identity } from '@votemesh/common/contracts/identity';
import { applySubgraphUrlOverrides, type GatewayConfig } from './config.ts';
import type { GatewayContext } from './gateway-context.ts';
import { loadSupergraph, type LoadedSupergraph } from './supergraph/load-supergraph.ts';
import { withApolloTelemetry } from './supergraph/apollo-telemetry.ts';
import type { AuthPolicy } from './supergraph/auth-policy.ts';
import { createAuthentication } from './auth/authentication.ts';
import type { VerifiedIdentity } from './auth/verify-token.ts';
import type { DevIssuer } from './auth/dev-issuer.ts';
import { createPolicyPlugin, enforcePolicy, type PolicyCheck } from './auth/enforce-policy.ts';
import { createOperationResolutionPlugin } from './graphql/operation-resolution-plugin.ts';
import { createIntrospectionPlugin } from './graphql/introspection-plugin.ts';
import { withPlannerRefusalsAsValidation } from './graphql/planner-refusals.ts';
import { createOperationExecutor } from './graphql/execute-operation.ts';
import { createIdentityForwarding } from './auth/forward-identity.ts';
import { createIdentitySigner } from './auth/identity-signer.ts';
import { createSubgraphDataSources } from './upstream/subgraph-data-source.ts';
import { createMemoryRateLimitCounter, createRateLimiter, type RateLimitCounter, type RateLimiter } from './limits/rate-limit.ts';
import { createLimitRules } from './limits/graphql-limits.ts';
import { createOperationGuard } from './limits/operation-guard.ts';
import { assignRequestId } from './http/request-id.ts';
import { createCors } from './http/cors.ts';
import { createGraphQLHttpHandler, GRAPHQL_METHODS } from './http/graphql-http.ts';
import { clientAddress, clientKey } from './http/client.ts';
import { createGraphQLRoute } from './http/graphql-route.ts';
import { createFormatError } from './observability/format-error.ts';
import { createOperationMetrics } from './observability/operation-metrics.ts';
import { subgraphReadinessChecks } from './upstream/subgraph-readiness.ts';

export interface SubscriptionTransport {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Serve the request as a subscription stream and resolve true, or resolve false to pass it on.
   * `body`: the POST body when the gateway already read it (then the request stream is consumed). */
  handleSse(req: IncomingMessage, res: ServerResponse, body?: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface SubscriptionHost {
  readonly gateway: ApolloGateway;
  /** The API schema clients see (no join/link machinery). */
  readonly apiSchema: GraphQLSchema;
  readonly supergraph: LoadedSupergraph;
  readonly policy: AuthPolicy;
  /** Subgraph name → URL the gateway uses (SUBGRAPH_URL_<NAME> overrides applied). */
  readonly subgraphUrls: ReadonlyMap<string, string>;
  /** Subgraph name → the data source queries use (same pool, deadline and identity forwarding), for entity fetches. */
  readonly dataSources: Readonly<Record<string, GraphQLDataSource>>;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly rateLimiter: RateLimiter;
  /** Verifies a bearer token (no token → undefined); throws VotemeshError TOKEN_* on a bad one. */
  authenticate(token: string | undefined): Promise<VerifiedIdentity | undefined>;
  /** Reads and verifies `Authorization: Bearer …` of an HTTP request (SSE, WebSocket upgrade). */
  authenticateRequest(req: IncomingMessage): Promise<VerifiedIdentity | undefined>;
  /** The forwarded identity JWT for subgraphs (graphql-ws `connectionParams.identity`). */
  signIdentity(identity: Identity): Promise<string>;
  /** Throws UNAUTHENTICATED/FORBIDDEN naming the fields when the caller may not run the operation. */
  enforcePolicy(check: Omit<PolicyCheck, 'policy' | 'schema'>): void;
  /** The client's address as the rate limits see it (TRUST_FORWARDED_FOR honoured). */
  clientAddress(req: IncomingMessage): string;
  /** Whether anonymous callers are refused (AUTH_REQUIRED_FOR_GRAPH): transports refuse them at connection time. */
  readonly requireIdentity: boolean;
  /**
   * Runs a query or mutation that arrived on a socket or stream through the same admission
   * (AUTH_REQUIRED_FOR_GRAPH, the rate limit: one request per operation, in the caller's HTTP
   * bucket) and the same Apollo Server pipeline as HTTP (policy, limits, metrics, error masking).
   * `clientAddress`: what `clientAddress(req)` gave for the socket or stream. Errors come back as
   * GraphQLErrors carrying the formatted message, path and extensions.
   */
  executeOperation(request: OperationInput, caller: CallerIdentity | undefined, clientAddress: string): Promise<ExecutionResult>;
}

export interface OperationInput {
  readonly query: string;
  readonly operationName?: string | undefined;
  readonly variables?: Record<string, unknown>;
  readonly extensions?: Record<string, unknown>;
}

/** An Identity with what the token said, when known (VerifiedIdentity is one). */
export type CallerIdentity = Identity & { readonly scopes?: readonly string[]; readonly expiresAt?: number | undefined };

export type SubscriptionsFactory = (host: SubscriptionHost) => SubscriptionTransport | Promise<SubscriptionTransport>;

export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The supergraph SDL (main.ts reads SUPERGRAPH_PATH). */
  readonly supergraphSdl: string;
  /** Rate-limit counters (Redis in production). @default in-memory, this process only */
  readonly rateLimitCounter?: RateLimitCounter;
  /** Dependencies reported in /readyz besides each subgraph (e.g. Redis): they degrade, never fail, readiness. */
  readonly dependencyChecks?: readonly ReadinessCheck[];
  readonly subscriptions?: SubscriptionsFactory;
}

export interface RunningGateway {
  readonly url: string;
  readonly httpServer: Server;
  readonly gateway: ApolloGateway;
  readonly supergraph: LoadedSupergraph;
  readonly devIssuer: DevIssuer | undefined;
  authenticate(token: string | undefined): Promise<VerifiedIdentity | undefined>;
  close(): Promise<void>;
}

export async function startGateway(deps: GatewayDeps): Promise<RunningGateway> {
  const { config, logger, registry } = deps;
  const supergraph = loadSupergraph(deps.supergraphSdl);
  const subgraphUrls = applySubgraphUrlOverrides(config.subgraphUrlOverrides, supergraph.subgraphs);
  const identityKey = identitySecretKey(config.identitySecret);
  const auth = await createAuthentication(config.auth);
  // HTTP fetches: 60 s tokens (reused for 30 s). Subscriptions: 300 s tokens, which the hub and the
  // upstream connector hold for up to 60 s (connection_init, entity fetches of a shared upstream).
  const httpSigner = createIdentitySigner({ key: identityKey, ttlSeconds: 60 });
  const subscriptionSigner = createIdentitySigner({ key: identityKey, ttlSeconds: 300 });

  // One data source per subgraph for query plans AND subscription events' entity fetches.
  const dataSources = createSubgraphDataSources({
    urls: subgraphUrls,
    headersFor: createIdentityForwarding({ signer: httpSigner }),
    timeoutMs: config.upstreamTimeoutMs,
  });
  const gateway = withApolloTelemetry(
    !config.apolloTelemetryDisabled,
    () =>
      new ApolloGateway({
        supergraphSdl: supergraph.executableSdl,
        buildService: (definition) => dataSources.buildService(definition),
        logger: logger.child({ component: 'apollo-gateway' }),
      }),
  );
  let apiSchema: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: schema }) => {
    apiSchema = schema;
  });
  const metrics = createOperationMetrics({ registry, logger, clientNames: config.metricsClientNames });
  const apollo = new ApolloServer<GatewayContext>({
    gateway: withPlannerRefusalsAsValidation(gateway),
    // No HTTP cache hints (the gateway sends none; the cache-control plugin walks every resolved
    // field) and never Apollo usage reporting (not even if APOLLO_KEY is in the environment).
    plugins: [
      createOperationResolutionPlugin({ subscriptionsServed: deps.subscriptions !== undefined }),
      createIntrospectionPlugin(),
      createPolicyPlugin(() => supergraph.policy),
      metrics.plugin,
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
    ],
    validationRules: createLimitRules({ maxDepth: config.maxDepth, maxAliases: config.maxAliases }),
    // Automatic persisted queries on purpose (Apollo's default, said here): a hash instead of the
    // query text, in the server's bounded in-memory cache per replica; a client that reaches a
    // replica without its hash hears PERSISTED_QUERY_NOT_FOUND and sends the query once (README).
    persistedQueries: {},
    formatError: createFormatError({ production: config.production }),
    includeStacktraceInErrorResponses: !config.production,
    introspection: config.introspection,
    stopOnTerminationSignals: false,
    logger: logger.child({ component: 'apollo-server' }),
  });
  await apollo.start();
  const schema = apiSchema;
  if (!schema) throw new Error('The gateway loaded no API schema from the supergraph');

  const rateLimitCounter = deps.rateLimitCounter ?? createMemoryRateLimitCounter();
  const rateLimitKey = (client: string, windowStart: number): string => `${config.redisPrefix}rl:${client}:${windowStart}`;
  const rateLimiter = createRateLimiter({ limit: config.rateLimitPerMinute, counter: rateLimitCounter, keyFor: rateLimitKey, logger });
  // The dev issuer's own budget (keys `token:<address>`): every token is a new voter identity, so
  // the /graphql budget (6,000 a minute) would let one address vote thousands of times a minute.
  const tokenRateLimiter = createRateLimiter({ limit: config.tokenRateLimitPerMinute, counter: rateLimitCounter, keyFor: rateLimitKey, logger });
  const keyOf = (req: IncomingMessage, identity: VerifiedIdentity | undefined): string => clientKey(req, identity, config);
  // One admission for HTTP and for operations on sockets and streams (executeOperation below).
  const guard = createOperationGuard({ rateLimiter, requireIdentity: config.auth.requiredForGraph });
  const graphql = createGraphQLHttpHandler({
    apollo,
    authenticate: auth.authenticateRequest,
    guard,
    clientKey: keyOf,
    bodyLimitBytes: config.bodyLimitBytes,
    onRejected: metrics.recordRejected,
    subscriptionsServed: deps.subscriptions !== undefined,
  });

  const subscriptions = await deps.subscriptions?.({
    gateway,
    apiSchema: schema,
    supergraph,
    policy: supergraph.policy,
    subgraphUrls,
    dataSources: dataSources.byName,
    config,
    logger,
    registry,
    rateLimiter,
    authenticate: auth.authenticate,
    authenticateRequest: auth.authenticateRequest,
    signIdentity: async (identity) => subscriptionSigner.sign(identity),
    enforcePolicy: (check) => enforcePolicy({ ...check, schema, policy: supergraph.policy }),
    clientAddress: (req) => clientAddress(req, config),
    requireIdentity: config.auth.requiredForGraph,
    executeOperation: createOperationExecutor({ apollo, guard }),
  });

  const route = createGraphQLRoute({
    http: graphql,
    streams: subscriptions && ((req, res, body) => subscriptions.handleSse(req, res, body)),
    bodyLimitBytes: config.bodyLimitBytes,
  });

  // Ready = this process can serve: its supergraph is loaded (startGateway got here), its listener
  // is up (it is answering) and it is not draining. Subgraphs and Redis only degrade: a query that
  // needs a down subgraph gets UPSTREAM_UNAVAILABLE naming it, the rest still work; Redis down
  // makes rate limiting lenient (main.ts). Both are shared by every replica, so unready would stop
  // every query at once and help nothing. They show in the body and in votemesh_dependency_up.
  const readiness = createReadiness({
    registry,
    required: [{ name: 'supergraph', check: async () => {} }],
    degrading: [...subgraphReadinessChecks(subgraphUrls, Math.min(config.upstreamTimeoutMs, 2000)), ...(deps.dependencyChecks ?? [])],
  });
  const probes = { registry, readiness };
  const cors = createCors({
    origins: config.corsOrigins,
    routes: {
      // What /graphql answers, no more: a preflight for anything else (graphql-sse's PUT/DELETE
      // reservations, which it refuses 405) lists no method the browser asked for.
      '/graphql': GRAPHQL_METHODS,
      ...(auth.devIssuer ? { '/auth/token': ['POST'], '/.well-known/jwks.json': ['GET'], '/.well-known/openid-configuration': ['GET'] } : {}),
    },
  });
  const httpServer = createHttpServer(async (req, res) => {
    const requestId = assignRequestId(req, res);
    if (await handleProbe(req, res, probes)) return;
    if (cors(req, res)) return;
    const path = (req.url ?? '/').split('?')[0];
    if (auth.devIssuer && (path === '/auth/token' || path?.startsWith('/.well-known/'))) {
      if (path === '/auth/token') {
        const decision = await tokenRateLimiter.consume(`token:${clientAddress(req, config)}`);
        if (!decision.allowed) {
          sendJson(
            res,
            429,
            { errors: [{ message: `Too many token requests; retry in ${decision.retryAfterSeconds} s`, extensions: { code: 'RATE_LIMITED' } }] },
            { 'retry-after': String(decision.retryAfterSeconds) },
          );
          return;
        }
      }
      if (await auth.devIssuer.handle(req, res)) return;
    }
    if (path === '/graphql') {
      await route(req, res, requestId);
      return;
    }
    sendJson(res, 404, {
      errors: [{ message: `No route for ${req.method ?? '?'} ${path ?? '/'}; GraphQL is at /graphql`, extensions: { code: 'BAD_USER_INPUT' } }],
    });
  });
  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (subscriptions && path === '/graphql') {
      subscriptions.handleUpgrade(req, socket, head);
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });

  const running = await listen(httpServer, config.port, config.host);
  logger.info({ url: running.url, graphql: `${running.url}/graphql`, subgraphs: Object.fromEntries(subgraphUrls), authMode: config.auth.mode }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url: running.url,
    httpServer,
    gateway,
    supergraph,
    devIssuer: auth.devIssuer,
    authenticate: auth.authenticate,
    close() {
      closing ??= (async () => {
        // Unready first, with every listener still open, so the mesh routes new requests elsewhere.
        await readiness.drain(config.drainDelayMs);
        await subscriptions?.close();
        const stopped = running.close();
        httpServer.closeIdleConnections();
        await stopped;
        await apollo.stop();
        await dataSources.close();
      })();
      return closing;
    },
  };
}
