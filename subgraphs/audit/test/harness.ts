// Test harness: a fresh migrated database, the real audit subgraph on port 0 with a Redis event
// bus under a test prefix, and small clients for its three faces (GraphQL over HTTP, graphql-ws,
// AuditIngest gRPC). Several harnesses given the same database and prefix are replicas of one
// deployment.
import { randomUUID } from 'node:crypto';
import { credentials, Metadata, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { createRedisEventBus } from '@votemesh/common/bus/redis-event-bus';
import { createLogger, type Logger } from '@votemesh/common/logger';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { IDENTITY_HEADER, identitySecretKey, signIdentity, type Identity } from '@votemesh/common/contracts/identity';
import { createDatabasePool, createPrismaClient, type DatabasePool, type PrismaClient } from '@votemesh/common/db/client';
import { loadAuditProto } from '@votemesh/common/grpc/load';
import type { AuditEventDraft } from '@votemesh/common/contracts/audit';
import type { AuditEventBatch } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventBatch';
import type { AuditEventInput } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventInput';
import type { RecordSummary__Output } from '@votemesh/common/grpc/generated/votemesh/audit/v1/RecordSummary';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { testRedisPrefix } from '@votemesh/common/testing/redis';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { startAuditSubgraph, type RunningAuditSubgraph } from '../src/server.ts';

export const SECRET = 'audit-test-identity-secret';
export const ADMIN: Identity = { subject: 'admin-1', role: 'admin' };
export const VOTER: Identity = { subject: 'voter-1', role: 'voter' };

export interface Harness extends AsyncDisposable {
  readonly db: TestDatabase;
  readonly prisma: PrismaClient;
  /** The pool under `prisma`. */
  readonly pool: DatabasePool;
  readonly audit: RunningAuditSubgraph;
  readonly registry: Registry;
  readonly logger: Logger;
  graphql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, identity?: Identity): Promise<GraphQLResult<T>>;
  /** One event per message, on Record. */
  record(events: readonly AuditEventInput[], metadata?: Metadata): Promise<RecordSummary__Output>;
  /** One message per batch, on RecordBatch. */
  recordBatches(batches: readonly (readonly AuditEventInput[])[], metadata?: Metadata): Promise<RecordSummary__Output>;
}

export interface HarnessOptions {
  readonly appendMaxBatch?: number;
  readonly appendMaxDelayMs?: number;
  /** Share another harness's database (this one then leaves dropping it to its owner). */
  readonly db?: TestDatabase;
  /** Share a Redis prefix with other harnesses; a fresh one by default. */
  readonly redisPrefix?: string;
}

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export { testRedisPrefix };

export interface GraphQLResult<T> {
  readonly data?: T | null;
  readonly errors?: readonly { message: string; extensions?: { code?: string } }[];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const ownsDb = options.db === undefined;
  const db = options.db ?? (await createTestDatabase());
  const pool = createDatabasePool(db.url);
  const prisma = createPrismaClient(pool);
  const logger = createLogger({ service: 'audit-test', level: 'error' });
  const registry = createMetricsRegistry('votemesh-audit');
  const redis = new Redis(REDIS_URL);
  const bus = createRedisEventBus({ publisher: redis, subscriber: redis.duplicate(), prefix: options.redisPrefix ?? testRedisPrefix(), logger });
  const audit = await startAuditSubgraph({
    config: {
      host: '127.0.0.1',
      port: 0,
      grpcPort: 0,
      identitySecret: SECRET,
      appendMaxBatch: options.appendMaxBatch ?? 500,
      appendMaxDelayMs: options.appendMaxDelayMs ?? 20,
      production: false,
    },
    logger,
    prisma,
    pool,
    registry,
    bus,
  });
  const client = createIngestClient(audit.grpcAddress);
  return {
    db,
    prisma,
    pool,
    audit,
    registry,
    logger,
    async graphql(query, variables = {}, identity) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (identity) headers[IDENTITY_HEADER] = await signIdentity(identitySecretKey(SECRET), identity);
      const response = await fetch(`${audit.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      return (await response.json()) as GraphQLResult<never>;
    },
    record: (events, metadata) => recordOn(client, events, metadata),
    recordBatches(batches, metadata) {
      const call = openBatchCall(client, metadata);
      for (const batch of batches) call.write(batch);
      call.end();
      return call.summary;
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await audit.close();
      await bus.close();
      redis.disconnect();
      await prisma.$disconnect();
      await pool.end();
      if (ownsDb) await db[Symbol.asyncDispose]();
    },
  };
}

export type IngestClient = InstanceType<ReturnType<typeof loadAuditProto>['votemesh']['audit']['v1']['AuditIngest']>;

export function createIngestClient(address: string): IngestClient {
  const { AuditIngest } = loadAuditProto().votemesh.audit.v1;
  return new AuditIngest(address, credentials.createInsecure());
}

/** Sends `events` on one Record call, half-closes, and resolves with the summary (or rejects). */
export function recordOn(client: IngestClient, events: readonly AuditEventInput[], metadata = new Metadata()): Promise<RecordSummary__Output> {
  return new Promise((resolve, reject) => {
    const call = client.Record(metadata, (error: ServiceError | null, summary?: RecordSummary__Output) => {
      if (error) reject(error);
      else if (summary) resolve(summary);
      else reject(new Error('Record answered without a summary'));
    });
    for (const event of events) call.write(event);
    call.end();
  });
}

export interface BatchCall {
  write(events: readonly AuditEventInput[]): void;
  end(): void;
  /** The call's answer (rejects with the ServiceError). */
  readonly summary: Promise<RecordSummary__Output>;
}

/** A RecordBatch call written message by message. */
export function openBatchCall(client: IngestClient, metadata = new Metadata()): BatchCall {
  let call: ClientWritableStream<AuditEventBatch> | undefined;
  const summary = new Promise<RecordSummary__Output>((resolve, reject) => {
    call = client.RecordBatch(metadata, (error: ServiceError | null, answer?: RecordSummary__Output) => {
      if (error) reject(error);
      else if (answer) resolve(answer);
      else reject(new Error('RecordBatch answered without a summary'));
    });
  });
  // Silences the unhandled rejection until a test awaits it.
  summary.catch(() => undefined);
  return {
    write: (events) => call?.write({ events: [...events] }),
    end: () => call?.end(),
    summary,
  };
}

let drafted = 0;
/** A valid event as a sender records it (AuditSink.record), numbered in `data.n`; override any field. */
export function makeDraft(overrides: Partial<AuditEventDraft> = {}): AuditEventDraft {
  drafted += 1;
  return {
    eventId: randomUUID(),
    at: new Date().toISOString(),
    actor: 'system:test',
    action: 'vote.counted',
    subjectType: 'Vote',
    subjectId: `r${drafted}`,
    pollId: randomUUID(),
    data: { n: drafted },
    ...overrides,
  };
}

let counter = 0;
/** A valid AuditEventInput; override any field. */
export function makeEvent(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  counter += 1;
  return {
    event_id: randomUUID(),
    at: new Date(Date.UTC(2030, 0, 1, 12, 0, 0, counter % 1000)).toISOString(),
    actor: 'system:test',
    action: 'vote.counted',
    subject_type: 'Vote',
    subject_id: `receipt-${counter}`,
    poll_id: '',
    trace_id: '',
    data_json: JSON.stringify({ n: counter, nested: { z: 1, a: [true, null, 'x'] } }),
    ...overrides,
  };
}
