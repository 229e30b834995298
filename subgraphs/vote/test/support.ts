// Test support: the real vote subgraph on port 0 over a fresh migrated database and a private
// Redis prefix, plus a small HTTP GraphQL client and a graphql-ws client that queues what it
// receives. `await using stack = await startStack()` tears everything down.
import { randomBytes } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import { createRedisEventBus } from '@votemesh/common/bus/redis-event-bus';
import type { AuditEventDraft, AuditSink } from '@votemesh/common/contracts/audit';
import { identitySecretKey, signIdentity, type Identity } from '@votemesh/common/contracts/identity';
import { PrismaClient } from '@votemesh/common/db/client';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { captureLogs, type LogLine } from '@votemesh/common/testing/log-capture';
import { deleteRedisPrefix, killRedisConnection, testRedisPrefix } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { startVoteSubgraph, type RunningVoteSubgraph } from '../src/server.ts';

export const IDENTITY_SECRET = 'vote-subgraph-test-secret-0123456789';
export const ADMIN: Identity = { subject: 'admin-1', role: 'admin' };
export const VOTER: Identity = { subject: 'voter-1', role: 'voter' };
export const OTHER_VOTER: Identity = { subject: 'voter-2', role: 'voter' };

export interface GraphQLResult<T = Record<string, unknown>> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: readonly { message: string; extensions?: Record<string, unknown>; path?: readonly (string | number)[] }[];
}

/** An AuditSink that keeps what it is given, for assertions. */
export function createMemoryAuditSink(): AuditSink & { readonly events: AuditEventDraft[] } {
  const events: AuditEventDraft[] = [];
  return { events, record: (event) => void events.push(event), flush: async () => undefined, close: async () => undefined };
}

export interface Stack extends AsyncDisposable {
  readonly vote: RunningVoteSubgraph;
  readonly prisma: PrismaClient;
  readonly redis: Redis;
  readonly bus: EventBus;
  readonly prefix: string;
  /** The stack's PostgreSQL database, for a replica started with `startStack({ replicaOf })`. */
  readonly databaseUrl: string;
  /** Drops the bus subscriber's connection as a network failure would (it reconnects by itself). */
  killBusSubscriber(): Promise<void>;
  readonly audit: ReturnType<typeof createMemoryAuditSink>;
  /** SQL statements PostgreSQL received, for N+1 checks. */
  readonly queries: string[];
  /** The subgraph's log lines at warn and above, parsed. */
  readonly logs: readonly LogLine[];
  token(identity: Identity): Promise<string>;
  request<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, as?: Identity | string): Promise<GraphQLResult<T>>;
  /** Like `request`, failing on errors. */
  data<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, as?: Identity): Promise<T>;
  ws(as?: Identity | string): Client;
}

export interface StackOptions {
  readonly schedulerSweepMs?: number;
  readonly pollCacheTtlMs?: number;
  /**
   * Start another replica of `replicaOf`'s vote subgraph: same database and Redis prefix, but its own
   * PostgreSQL pool, Redis connections, bus and poll cache, as a second pod would have. Disposing a
   * replica leaves the shared database and keys to the stack that made them.
   */
  readonly replicaOf?: Stack;
  /**
   * The AuditSink the subgraph sends to, made on the stack's Redis connection and prefix (a real
   * audit client with its spool); `stack.audit` then receives nothing. @default the memory sink
   */
  readonly audit?: (redis: Redis, prefix: string) => AuditSink;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const shared = options.replicaOf;
  let db: TestDatabase | undefined;
  let databaseUrl: string;
  if (shared) databaseUrl = shared.databaseUrl;
  else {
    db = await createTestDatabase();
    databaseUrl = db.url;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }), log: [{ emit: 'event', level: 'query' }] });
  const queries: string[] = [];
  prisma.$on('query', (event) => queries.push(event.query));
  const prefix = shared?.prefix ?? testRedisPrefix();
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: false });
  const { logger, lines: logs } = captureLogs('vote-test', 'warn');
  const subscriberName = `vote-test-bus-${prefix.slice(0, -1).replace(':', '-')}-${randomBytes(3).toString('hex')}`;
  const bus = createRedisEventBus({ publisher: redis, subscriber: redis.duplicate({ connectionName: subscriberName }), prefix, logger });
  const audit = createMemoryAuditSink();
  const vote = await startVoteSubgraph({
    config: {
      host: '127.0.0.1',
      port: 0,
      redisPrefix: prefix,
      identitySecret: IDENTITY_SECRET,
      receiptTtlSeconds: 3600,
      pollCacheTtlMs: options.pollCacheTtlMs ?? 1000,
      schedulerSweepMs: options.schedulerSweepMs ?? 5000,
    },
    logger,
    prisma,
    redis,
    bus,
    audit: options.audit?.(redis, prefix) ?? audit,
    registry: createMetricsRegistry('vote-test'),
  });
  const key = identitySecretKey(IDENTITY_SECRET);
  const clients = new Set<Client>();

  async function headerFor(as: Identity | string | undefined): Promise<Record<string, string>> {
    if (as === undefined) return {};
    return { 'x-votemesh-identity': typeof as === 'string' ? as : await signIdentity(key, as) };
  }

  async function request<T>(query: string, variables: Record<string, unknown> = {}, as?: Identity | string): Promise<GraphQLResult<T>> {
    const response = await fetch(vote.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await headerFor(as)) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResult<T>, 'status'>;
    return { status: response.status, ...body };
  }

  return {
    vote,
    prisma,
    redis,
    bus,
    prefix,
    databaseUrl,
    async killBusSubscriber() {
      if ((await killRedisConnection(redis, subscriberName)) !== 1) throw new Error(`no bus subscriber connection named ${subscriberName}`);
    },
    audit,
    queries,
    logs,
    token: (identity) => signIdentity(key, identity),
    request,
    async data<T>(query: string, variables?: Record<string, unknown>, as?: Identity) {
      const result = await request<T>(query, variables, as);
      if (result.errors?.length || !result.data) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)} (HTTP ${result.status})`);
      return result.data;
    },
    ws(as) {
      const client = createClient({
        url: vote.graphqlUrl.replace(/^http/, 'ws'),
        lazy: true,
        retryAttempts: 0,
        connectionParams: async () => (as === undefined ? {} : { identity: typeof as === 'string' ? as : await signIdentity(key, as) }),
      });
      clients.add(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) await client.dispose();
      await vote.close();
      await bus.close();
      if (!shared) await deleteRedisPrefix(redis, prefix);
      redis.disconnect();
      await prisma.$disconnect();
      await db?.[Symbol.asyncDispose]();
    },
  };
}

/** A subscription's messages as a queue the test can wait on, message by message. */
export interface SubscriptionProbe<T> {
  readonly events: T[];
  readonly errors: unknown[];
  readonly completed: boolean;
  /** Waits until at least `count` events arrived and returns the `count`-th (1-based). */
  nth(count: number, timeoutMs?: number): Promise<T>;
  /** Waits for the first event that matches. */
  first(predicate: (event: T) => boolean, timeoutMs?: number): Promise<T>;
  waitForCompletion(timeoutMs?: number): Promise<void>;
  waitForError(timeoutMs?: number): Promise<unknown>;
  unsubscribe(): void;
}

export function subscribe<T = Record<string, unknown>>(client: Client, query: string, variables: Record<string, unknown> = {}): SubscriptionProbe<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(result.errors);
        else if (result.data) events.push(result.data);
      },
      error: (error) => errors.push(error),
      complete: () => {
        completed = true;
      },
    },
  );
  return {
    events,
    errors,
    get completed() {
      return completed;
    },
    nth: (count, timeoutMs = 10_000) => waitFor(() => events[count - 1], { timeoutMs, what: `subscription event #${count} (have ${events.length})` }),
    first: (predicate, timeoutMs = 10_000) =>
      waitFor(() => events.find(predicate), { timeoutMs, what: `a matching subscription event (have ${events.length})` }),
    waitForCompletion: (timeoutMs = 10_000) => waitFor(() => completed, { timeoutMs, what: 'subscription completion' }).then(() => undefined),
    waitForError: (timeoutMs = 10_000) => waitFor(() => errors[0], { timeoutMs, what: 'subscription error' }),
    unsubscribe,
  };
}

export const POLL_FIELDS = 'id question status opensAt closesAt createdAt options { id label position }';

export interface PollView {
  id: string;
  question: string;
  status: 'DRAFT' | 'OPEN' | 'CLOSED';
  opensAt: string | null;
  closesAt: string | null;
  createdAt: string;
  options: { id: string; label: string; position: number }[];
}

export async function createPoll(stack: Stack, input: Record<string, unknown> = {}): Promise<PollView> {
  const data = await stack.data<{ createPoll: PollView }>(
    `mutation ($input: CreatePollInput!) { createPoll(input: $input) { ${POLL_FIELDS} } }`,
    { input: { question: 'Cats or dogs?', options: ['Cats', 'Dogs'], ...input } },
    ADMIN,
  );
  return data.createPoll;
}

export async function createOpenPoll(stack: Stack, input: Record<string, unknown> = {}): Promise<PollView> {
  const poll = await createPoll(stack, input);
  const data = await stack.data<{ openPoll: PollView }>(`mutation ($id: ID!) { openPoll(id: $id) { ${POLL_FIELDS} } }`, { id: poll.id }, ADMIN);
  return data.openPoll;
}

/** The `votemesh_vote_subscriptions` gauge for one root field, read from /metrics. */
export async function activeSubscriptions(stack: Stack, field: string): Promise<number> {
  const text = await (await fetch(`${stack.vote.url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('votemesh_vote_subscriptions{') && candidate.includes(`field="${field}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/**
 * Waits until the server serves `count` subscriptions of `field`: each is on the bus and has read its
 * starting state, so a change made from now on reaches it as a change (pollStatus sends no first event
 * to wait on instead).
 */
export async function waitForActiveSubscriptions(stack: Stack, field: string, count: number): Promise<void> {
  await waitFor(async () => (await activeSubscriptions(stack, field)) >= count, { what: `${count} active ${field} subscription(s)` });
}
