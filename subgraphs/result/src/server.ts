// Starts the result subgraph: GraphQL over HTTP (Apollo Server 5 through Node http) and
// subscriptions over graphql-ws on the same `/graphql` path and port, plus /healthz, /readyz and
// /metrics. Every dependency comes in as an argument, so tests start the real thing on port 0.
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { IDENTITY_HEADER, type Identity } from '@votemesh/common/contracts/identity';
import type { PrismaClient } from '@votemesh/common/db/client';
import { createGraphQLErrorFormatter, createGraphQLHttpHandler } from '@votemesh/common/graphql-http';
import { createHttpServer, handleProbe, listen, sendJson } from '@votemesh/common/http-server';
import { createReadiness } from '@votemesh/common/readiness';
import { createUpgradeServer } from '@votemesh/common/websocket-upgrades';
import type { Logger } from '@votemesh/common/logger';
import { withTraceContext } from '@votemesh/common/telemetry/graphql-ws-trace';
import { useServer } from 'graphql-ws/use/ws';
import type { Registry } from 'prom-client';
import type { ResultConfig } from './config.ts';
import { readIdentity, type ResultContext } from './context.ts';
import { createLiveResults, type LiveResults } from './live-results.ts';
import { createResultMetrics } from './metrics.ts';
import { createPrismaPollOptionSource, type PollOptionSource } from './poll-options.ts';
import { createPushedEventSlot, pushExtensions } from './push-telemetry.ts';
import { createResultsLoader } from './results-loader.ts';
import { resolvers, typeDefs } from './schema.ts';
import type { TallySource } from './tally-client.ts';

export interface ResultSubgraphDeps {
  readonly config: Pick<ResultConfig, 'host' | 'port' | 'production' | 'coalesceMs' | 'watchReconnectInitialMs' | 'watchReconnectMaxMs'> &
    Partial<Pick<ResultConfig, 'drainDelayMs'>>;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Read-only: poll_options (option ids in position order) and the readiness probe. */
  readonly prisma: Pick<PrismaClient, 'pollOption' | '$queryRaw'>;
  readonly tally: TallySource;
  /** Key of the gateway's identity tokens (`identitySecretKey(IDENTITY_SECRET)`). */
  readonly identityKey: Uint8Array;
}

export interface RunningResultSubgraph {
  /** http://host:port — GraphQL at `${url}/graphql` (HTTP and ws). */
  readonly url: string;
  readonly live: LiveResults;
  /** Ends subscriptions (close code 1001), closes the server and streams. Safe to call twice. */
  close(): Promise<void>;
}

const PATH = '/graphql';

export async function startResultSubgraph(deps: ResultSubgraphDeps): Promise<RunningResultSubgraph> {
  const { config, logger, registry, prisma, tally, identityKey } = deps;
  const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);
  const metrics = createResultMetrics(registry);
  const options: PollOptionSource = createPrismaPollOptionSource(prisma);
  const live = createLiveResults({
    tally,
    options,
    metrics,
    logger,
    coalesceMs: config.coalesceMs,
    reconnect: { initialMs: config.watchReconnectInitialMs, maxMs: config.watchReconnectMaxMs },
  });
  const now = () => new Date();
  const contextFor = (identity: Identity | undefined): ResultContext => ({
    ...(identity ? { identity } : {}),
    results: createResultsLoader({ options, tally, now }),
    live,
    pushed: createPushedEventSlot(),
  });
  const formatError = createGraphQLErrorFormatter(logger);

  const apollo = new ApolloServer<ResultContext>({
    schema,
    formatError,
    introspection: !config.production,
    includeStacktraceInErrorResponses: false,
    // main.ts owns SIGTERM/SIGINT: Apollo's own handler would stop the server and re-send the signal
    // after ours was spent, killing the process (exit 143) before its graceful shutdown ran.
    stopOnTerminationSignals: false,
    // Traces go through OpenTelemetry; Apollo's inline `ftv1` traces are for Apollo Studio only.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const handleGraphQL = createGraphQLHttpHandler<ResultContext>({
    server: apollo,
    path: PATH,
    context: async (req) => contextFor(await readIdentity(identityKey, req.headers[IDENTITY_HEADER])),
  });

  // Ready = listening and not draining. PostgreSQL (poll options) and the worker's TallyService
  // are shared by every replica: while either is down, results fail alike on all of them with
  // UPSTREAM_UNAVAILABLE, live subscriptions stay open and reopen their WatchResults stream by
  // themselves, and no restart of this process helps. Unready would only turn those precise
  // errors into mesh 503s and refuse new subscriptions that would resume on their own.
  const readiness = createReadiness({
    registry,
    degrading: [
      { name: 'postgres', check: async () => void (await prisma.$queryRaw`SELECT 1`) },
      { name: 'tally-grpc', check: () => tally.checkReady(1500) },
    ],
  });
  const httpServer = createHttpServer(async (req, res) => {
    if (await handleProbe(req, res, { registry, readiness })) return;
    if (await handleGraphQL(req, res)) return;
    sendJson(res, 404, { errors: [{ message: `Not found; GraphQL is served at ${PATH}`, extensions: { code: 'NOT_FOUND' } }] });
  });

  // graphql-ws: the identity is read once, from connection_init, and kept per connection; each
  // operation runs under the trace context the gateway sends in its `subscribe` extensions.
  const identities = new WeakMap<object, Identity | undefined>();
  const wss = createUpgradeServer(httpServer, PATH);
  const wsServer = useServer<Record<string, unknown>>(
    withTraceContext({
      schema,
      onConnect: async (ctx) => {
        identities.set(ctx, await readIdentity(identityKey, ctx.connectionParams?.['identity']));
        return true;
      },
      context: (ctx) => contextFor(identities.get(ctx)),
      // Subscription results get the same error masking as HTTP responses (Apollo's formatError),
      // and live updates carry their trace context and commit time (push-telemetry.ts).
      onNext: (_ctx, _id, _payload, args, result) => {
        const extensions = pushExtensions((args.contextValue as ResultContext).pushed.take());
        if (!result.errors?.length && !extensions) return undefined;
        return {
          ...(result.data !== undefined ? { data: result.data } : {}),
          ...(result.errors?.length ? { errors: result.errors.map((error) => formatError(error.toJSON(), error)) } : {}),
          ...(extensions ? { extensions: { ...result.extensions, ...extensions } } : {}),
        };
      },
      isProd: config.production,
    }),
    wss,
  );

  const running = await listen(httpServer, config.port, config.host);
  logger.info({ url: running.url, graphql: `${running.url}${PATH}` }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url: running.url,
    live,
    close() {
      closing ??= (async () => {
        // Unready first, with the listener still open, so the mesh routes new requests elsewhere.
        await readiness.drain(config.drainDelayMs);
        live.close();
        await wsServer.dispose();
        await running.close();
        await apollo.stop();
      })();
      return closing;
    },
  };
}
