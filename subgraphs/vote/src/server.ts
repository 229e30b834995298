// Starts the vote subgraph: GraphQL over HTTP (Apollo Server through Node's http module) and
// graphql-ws subscriptions on the same /graphql path, the probes, and the poll scheduler. Takes
// every dependency as an argument; owns only what it creates here.
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import { createKeyedRouter, keyedMessages } from '@votemesh/common/bus/keyed-router';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import { IDENTITY_HEADER, identitySecretKey } from '@votemesh/common/contracts/identity';
import type { PrismaClient } from '@votemesh/common/db/client';
import { createGraphQLErrorFormatter, createGraphQLHttpHandler } from '@votemesh/common/graphql-http';
import { createHttpServer, handleProbe, listen, sendJson } from '@votemesh/common/http-server';
import { createReadiness } from '@votemesh/common/readiness';
import { createUpgradeServer } from '@votemesh/common/websocket-upgrades';
import type { Logger } from '@votemesh/common/logger';
import { withTraceContext } from '@votemesh/common/telemetry/graphql-ws-trace';
import type { GraphQLFormattedError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { VoteConfig } from './config.ts';
import { checkIdentity, createContext, type IdentityResult, type VoteContext, type VoteServices } from './context.ts';
import { createVoteMetrics } from './metrics.ts';
import { createPollCache } from './polls/poll-cache.ts';
import { createPollScheduler } from './polls/poll-scheduler.ts';
import { createPollService } from './polls/poll-service.ts';
import { createPollStore } from './polls/poll-store.ts';
import { createReceiptEvents } from './votes/receipt-events.ts';
import { resolvers, typeDefs } from './schema.ts';
import { createReceiptStore } from './votes/receipt-store.ts';
import { createVoteService } from './votes/vote-service.ts';

export interface VoteSubgraphDeps {
  readonly config: Pick<VoteConfig, 'host' | 'port' | 'redisPrefix' | 'identitySecret' | 'receiptTtlSeconds' | 'pollCacheTtlMs' | 'schedulerSweepMs'> &
    Partial<Pick<VoteConfig, 'drainDelayMs'>>;
  readonly logger: Logger;
  readonly prisma: PrismaClient;
  /** For commands (receipts, the votes stream) and readiness; not closed here. */
  readonly redis: Redis;
  readonly bus: EventBus;
  readonly audit: AuditSink;
  readonly registry: Registry;
}

export interface RunningVoteSubgraph {
  /** Base URL; GraphQL at `${url}/graphql` (HTTP and graphql-ws). */
  readonly url: string;
  readonly graphqlUrl: string;
  close(): Promise<void>;
}

export const GRAPHQL_PATH = '/graphql';

export async function startVoteSubgraph(deps: VoteSubgraphDeps): Promise<RunningVoteSubgraph> {
  const { config, logger, bus, audit, registry } = deps;
  const metrics = createVoteMetrics(registry);
  const store = createPollStore(deps.prisma);
  const receipts = createReceiptStore({ redis: deps.redis, prefix: config.redisPrefix, ttlSeconds: config.receiptTtlSeconds });
  const pollCache = createPollCache({ store, ttlMs: config.pollCacheTtlMs, onLookup: (result) => metrics.pollCache.inc({ result }) });
  const polls = createPollService({ store, bus, audit, metrics, logger, onChanged: (pollId) => pollCache.invalidate(pollId) });
  const scheduler = createPollScheduler({ polls, store, logger, sweepMs: config.schedulerSweepMs });
  const services: VoteServices = {
    polls,
    votes: createVoteService({ polls: pollCache, receipts, audit, metrics, logger }),
    store,
    receipts,
    receiptEvents: createReceiptEvents(bus, logger),
    pollStatusEvents: createKeyedRouter(bus, [keyedMessages('poll-status', (message) => message.pollId)], logger),
    metrics,
    logger,
  };

  // Any replica's lifecycle change: drop the cached poll and let the scheduler re-plan. This is what
  // keeps castVote on every replica in step with an open or close made elsewhere: the cache entry
  // lives until the message arrives (bus latency), not until POLL_CACHE_TTL_MS runs out.
  const stopWatchingPolls = await bus.subscribe('poll-status', (message) => {
    pollCache.invalidate(message.pollId);
    scheduler.wake();
  });
  // A bus gap (the subscriber reconnected) may have swallowed poll-status messages, and nothing says
  // which polls they named: forget every cached poll, so castVote reads PostgreSQL again. The gap is
  // reported once every channel is subscribed again, so a change committed after the clear is
  // announced to this replica as usual. The scheduler re-plans for the same reason.
  const stopWatchingGaps = bus.onGap(() => {
    pollCache.clear();
    scheduler.wake();
  });

  // The map's resolvers are typed with VoteContext; buildSubgraphSchema takes a context-agnostic map.
  const schema = buildSubgraphSchema({ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> });
  const formatError = createGraphQLErrorFormatter(logger);
  // main.ts owns the signals: Apollo must not stop itself (and re-raise the signal) on SIGTERM.
  const apollo = new ApolloServer<VoteContext>({
    schema,
    logger,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    stopOnTerminationSignals: false,
    // Traces go through OpenTelemetry; Apollo's inline `ftv1` traces are for Apollo Studio only.
    // No cache hints are used (the cache-control plugin walks every resolved field), and no usage reporting.
    plugins: [ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled(), ApolloServerPluginUsageReportingDisabled()],
  });
  await apollo.start();

  const key = identitySecretKey(config.identitySecret);
  const httpIdentity = rememberVerifiedIdentities((token) => checkIdentity(key, token));
  const graphqlHandler = createGraphQLHttpHandler<VoteContext>({
    server: apollo,
    path: GRAPHQL_PATH,
    context: async (req: IncomingMessage) => createContext(services, await httpIdentity(headerValue(req, IDENTITY_HEADER))),
  });
  // Ready = listening and not draining. PostgreSQL and Redis each serve only part of the API
  // (polls vs castVote and receipts), and every replica shares them: while one is down the other
  // half still works here, so they are reported (body, votemesh_dependency_up), not required.
  const readiness = createReadiness({
    registry,
    degrading: [
      { name: 'postgres', check: () => store.ping() },
      { name: 'redis', check: () => receipts.ping() },
    ],
  });
  const httpServer = createHttpServer(async (req, res) => {
    if (await handleProbe(req, res, { registry, readiness })) return;
    if (await graphqlHandler(req, res)) return;
    sendJson(res, 404, { error: 'not found' });
  });

  const wsServer = createUpgradeServer(httpServer, GRAPHQL_PATH);
  const socketIdentities = new WeakMap<WebSocket, IdentityResult>();
  // Operations run under the trace context the gateway sends in `subscribe` extensions.
  const wsGraphql = useServer<Record<string, unknown>>(
    withTraceContext({
      schema,
      isProd: true,
      async onConnect(ctx) {
        const token = ctx.connectionParams?.['identity'];
        const result = await checkIdentity(key, typeof token === 'string' ? token : undefined);
        // A forwarded identity that does not verify is refused outright (4403 Forbidden).
        if ('identityError' in result) {
          logger.warn({ reason: result.identityError.message }, 'refused a graphql-ws connection with an untrusted identity');
          return false;
        }
        socketIdentities.set(ctx.extra.socket, result);
        return true;
      },
      context: (ctx) => createContext(services, socketIdentities.get(ctx.extra.socket) ?? {}),
      onNext(_ctx, _id, _payload, _args, result) {
        if (!result.errors) return;
        const errors = result.errors.map((error): GraphQLFormattedError => formatError(error.toJSON(), error));
        return { ...(result.data !== undefined ? { data: result.data } : {}), errors };
      },
    }),
    wsServer,
  );

  const running = await listen(httpServer, config.port, config.host);
  scheduler.start();
  const graphqlUrl = `${running.url}${GRAPHQL_PATH}`;
  logger.info({ url: running.url, graphql: graphqlUrl, subscriptions: graphqlUrl.replace(/^http/, 'ws') }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url: running.url,
    graphqlUrl,
    close() {
      closing ??= (async () => {
        // Unready first, with the listener still open, so the mesh routes new requests elsewhere.
        await readiness.drain(config.drainDelayMs);
        stopWatchingPolls();
        stopWatchingGaps();
        await scheduler.stop();
        // Going away (1001) for every subscriber, then stop accepting and drain HTTP.
        await wsGraphql.dispose();
        await new Promise<void>((resolve) => wsServer.close(() => resolve()));
        await running.close();
        await apollo.stop();
        services.receiptEvents.close();
        services.pollStatusEvents.close();
      })();
      return closing;
    },
  };
}

/**
 * The gateway reuses a caller's forwarded identity token for a while, so the same token arrives on
 * many requests: a verified one is remembered (LRU) until its `exp`, when it would stop verifying.
 * Refusals are not remembered.
 */
function rememberVerifiedIdentities(
  check: (token: string | undefined) => Promise<IdentityResult>,
  size = 10_000,
): (token: string | undefined) => Promise<IdentityResult> {
  const verified = new Map<string, { result: IdentityResult; until: number }>();
  return async (token) => {
    if (token === undefined || token === '') return check(token);
    const hit = verified.get(token);
    if (hit) {
      verified.delete(token);
      if (hit.until > Date.now()) {
        verified.set(token, hit);
        return hit.result;
      }
    }
    const result = await check(token);
    if (!('identity' in result)) return result;
    // It verified, so it is a well-formed JWT; `exp` is in its payload.
    const exp: unknown = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    if (typeof exp === 'number' && exp * 1000 > Date.now()) {
      verified.set(token, { result, until: exp * 1000 });
      if (verified.size > size) {
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
    }
    return result;
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
