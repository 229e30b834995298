// Starts the audit subgraph from its dependencies: GraphQL over HTTP and graphql-ws on /graphql,
// the probes, and the AuditIngest gRPC server, all sharing one store, appender and live feed. The
// feed runs over the event bus, so every replica's subscribers see every replica's appends.
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import { identitySecretKey, type Identity } from '@votemesh/common/contracts/identity';
import type { DatabasePool, PrismaClient } from '@votemesh/common/db/client';
import { createGraphQLErrorFormatter, createGraphQLHttpHandler } from '@votemesh/common/graphql-http';
import { createHttpServer, handleProbe, listen, sendJson } from '@votemesh/common/http-server';
import { createReadiness, type ReadinessCheck } from '@votemesh/common/readiness';
import { createUpgradeServer } from '@votemesh/common/websocket-upgrades';
import type { Logger } from '@votemesh/common/logger';
import { withTraceContext } from '@votemesh/common/telemetry/graphql-ws-trace';
import { useServer } from 'graphql-ws/use/ws';
import type { Registry } from 'prom-client';
import { createAppender } from './appender.ts';
import type { AuditConfig } from './config.ts';
import { createAuditFeed } from './feed.ts';
import { createAppendedPublisher, createBusFeedSource } from './feed-bus.ts';
import { startGrpcServer } from './grpc-server.ts';
import { createIdentityReader, identityHeader } from './identity.ts';
import { createIngestHandlers } from './ingest.ts';
import { createAuditMetrics } from './metrics.ts';
import { resolvers, typeDefs, type AuditContext, type AuditServices } from './schema.ts';
import { createAuditStore } from './store.ts';

export interface AuditSubgraphDeps {
  readonly config: Pick<AuditConfig, 'host' | 'port' | 'grpcPort' | 'identitySecret' | 'appendMaxBatch' | 'appendMaxDelayMs' | 'production'> &
    Partial<Pick<AuditConfig, 'grpcKeepalive' | 'drainDelayMs'>>;
  readonly logger: Logger;
  readonly prisma: PrismaClient;
  /** The pool `prisma` runs on; appends use the driver directly. Owned by the caller. */
  readonly pool: DatabasePool;
  readonly registry: Registry;
  /** Carries committed events to every replica's auditEvents feed; owned by the caller. */
  readonly bus: EventBus;
  /** Reported in /readyz without deciding it (e.g. the bus's Redis). */
  readonly dependencyChecks?: readonly ReadinessCheck[];
}

export interface RunningAuditSubgraph {
  /** Base URL of the HTTP server; GraphQL (and graphql-ws) is at `${url}/graphql`. */
  readonly url: string;
  /** host:port of the AuditIngest gRPC server. */
  readonly grpcAddress: string;
  close(): Promise<void>;
}

export async function startAuditSubgraph(deps: AuditSubgraphDeps): Promise<RunningAuditSubgraph> {
  const { config, logger, registry } = deps;
  const metrics = createAuditMetrics(registry);
  const store = createAuditStore(deps.prisma, deps.pool);
  const feed = createAuditFeed({ source: createBusFeedSource(deps.bus), onSubscribersChanged: (count) => metrics.feedSubscribers.set(count) });
  const publisher = createAppendedPublisher({ bus: deps.bus, logger });
  const appender = createAppender({
    store,
    metrics,
    logger,
    onAppended: (events) => publisher.publish(events),
    maxBatch: config.appendMaxBatch,
    maxDelayMs: config.appendMaxDelayMs,
  });
  const audit: AuditServices = { store, feed };
  const readIdentity = createIdentityReader(identitySecretKey(config.identitySecret), logger);
  const contextFor = (identity: Identity | undefined): AuditContext => (identity ? { identity, audit } : { audit });

  const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);
  const apollo = new ApolloServer<AuditContext>({
    schema,
    formatError: createGraphQLErrorFormatter(logger),
    includeStacktraceInErrorResponses: !config.production,
    // main.ts owns SIGTERM/SIGINT: Apollo's own handler would stop the server and re-send the signal
    // after ours was spent, killing the process (exit 143) before its graceful shutdown ran.
    stopOnTerminationSignals: false,
    // No Apollo Studio here: traces go through OpenTelemetry.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const graphql = createGraphQLHttpHandler<AuditContext>({
    server: apollo,
    context: async (req) => contextFor(await readIdentity(identityHeader(req))),
  });

  const grpc = await startGrpcServer(createIngestHandlers({ appender, metrics, logger }), config.host, config.grpcPort, config.grpcKeepalive);
  // Ready = the HTTP and gRPC listeners are up, not draining, and PostgreSQL answers: the log lives
  // there, so every append and every query needs it (senders keep what is unconfirmed and resend).
  // Redis is reported, not required: ingest and the queries work without it, only the live feed
  // pauses, and taking the replica out of service would stop ingest for no gain.
  const readiness = createReadiness({
    registry,
    required: [
      { name: 'postgres', check: () => store.ping() },
      {
        name: 'grpc',
        async check() {
          if (!grpc.isListening()) throw new Error('AuditIngest gRPC server is not listening');
        },
      },
    ],
    degrading: deps.dependencyChecks ?? [],
  });
  const httpServer = createHttpServer(async (req, res) => {
    if (await handleProbe(req, res, { registry, readiness })) return;
    if (await graphql(req, res)) return;
    sendJson(res, 404, { error: 'not found' });
  });

  const wsServer = createUpgradeServer(httpServer, '/graphql');
  // Operations run under the trace context the gateway sends in `subscribe` extensions.
  const wsDisposable = useServer<Record<string, unknown> | undefined, { identity?: Identity | undefined }>(
    withTraceContext({
      schema,
      async onConnect(ctx) {
        ctx.extra.identity = await readIdentity(ctx.connectionParams?.['identity']);
        return true;
      },
      context: (ctx) => contextFor(ctx.extra.identity),
    }),
    wsServer,
  );

  const http = await listen(httpServer, config.port, config.host).catch(async (error: unknown) => {
    await grpc.close(0);
    await appender.close();
    await publisher.flush();
    feed.close();
    await apollo.stop();
    throw error;
  });

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    // Stop taking new ingest streams and let open ones finish (they need the appender), then
    // commit what is queued and publish it (the caller closes the bus after us), then end
    // subscriptions and stop HTTP. Unready before any of it, listeners still open, so the mesh
    // sends new streams and queries elsewhere first.
    await readiness.drain(config.drainDelayMs);
    await grpc.close();
    await appender.close();
    await publisher.flush();
    feed.close();
    await wsDisposable.dispose();
    for (const client of wsServer.clients) client.close(1001, 'Going away');
    await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    await http.close();
    await apollo.stop();
  }
  return {
    url: http.url,
    grpcAddress: grpc.address,
    close: () => (closing ??= close()),
  };
}
