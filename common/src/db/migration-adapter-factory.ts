// The driver-adapter factory handed to Prisma's wasm schema engine. It wraps @prisma/adapter-pg 7.10
// to route around three of its traps:
// - `executeScript` splits on `;`, which breaks `$$` bodies and runs a migration statement by
//   statement (a failure leaves it half-applied). We send the whole script as ONE simple-protocol
//   query instead: PostgreSQL runs a multi-statement query as a single implicit transaction, which is
//   exactly what the native engine does.
// - `connectToShadowDb` overrides the database of a connection-string config in a way pg ignores
//   (the URL wins), and drops the shadow database before ending its pool. We create, connect to and
//   drop the shadow database ourselves, closing the pool first.
// - It cannot read PostgreSQL's internal `"char"` type (oid 18), which the engine's catalog queries
//   select (`pg_constraint.contype`, ...). We relabel such columns as text before the adapter sees
//   them: a `"char"` travels as a one-character text value, so the data itself is unchanged.
// - Pools it opens are never closed unless the engine disposes them; we track and close them all.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { createDatabaseIfMissing, dropDatabaseIfExists, replaceDatabaseName } from './postgres-admin.ts';

export interface MigrationAdapterFactory extends SqlMigrationAwareDriverAdapterFactory, AsyncDisposable {}

export function createMigrationAdapterFactory(databaseUrl: string): MigrationAdapterFactory {
  const releases = new Set<() => Promise<void>>();

  // One release per pool, idempotent, so the engine disposing an adapter and our final cleanup can
  // both run it.
  function track(release: () => Promise<void>): () => Promise<void> {
    let released: Promise<void> | undefined;
    const once = (): Promise<void> => {
      released ??= release().finally(() => releases.delete(once));
      return released;
    };
    releases.add(once);
    return once;
  }

  async function connectTo(url: string, release: (pool: pg.Pool) => Promise<void>): Promise<SqlDriverAdapter> {
    // A single connection gives the engine one session, as the native engine has: its advisory lock
    // and its session settings then apply to every statement it sends.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('connect', (client) => client.connection.prependListener('rowDescription', relabelCharColumnsAsText));
    const dispose = track(() => release(pool));
    try {
      return wrapAdapter(await new PrismaPg(pool).connect(), dispose);
    } catch (error) {
      await dispose();
      throw error;
    }
  }

  return {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    connect: () => connectTo(databaseUrl, (pool) => pool.end()),
    async connectToShadowDb() {
      const shadowName = `prisma_migrate_shadow_db_${randomUUID()}`;
      await createDatabaseIfMissing(databaseUrl, shadowName);
      return connectTo(replaceDatabaseName(databaseUrl, shadowName), async (pool) => {
        await pool.end();
        await dropDatabaseIfExists(databaseUrl, shadowName);
      });
    },
    async [Symbol.asyncDispose]() {
      const results = await Promise.allSettled([...releases].map((release) => release()));
      const failure = results.find((result) => result.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    },
  };
}

const CHAR_OID = 18;
const TEXT_OID = 25;

// Runs before pg's own rowDescription handler, so the result's fields already say "text".
function relabelCharColumnsAsText(message: unknown): void {
  if (typeof message !== 'object' || message === null || !('fields' in message)) return;
  if (!Array.isArray(message.fields)) return;
  for (const field of message.fields) {
    if (typeof field === 'object' && field !== null && 'dataTypeID' in field && field.dataTypeID === CHAR_OID) {
      field.dataTypeID = TEXT_OID;
    }
  }
}

function wrapAdapter(adapter: SqlDriverAdapter, dispose: () => Promise<void>): SqlDriverAdapter {
  return {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => adapter.queryRaw(query),
    executeRaw: (query) => adapter.executeRaw(query),
    startTransaction: (isolationLevel) => adapter.startTransaction(isolationLevel),
    getConnectionInfo: () => adapter.getConnectionInfo?.() ?? { supportsRelationJoins: true },
    // No bind values => pg uses the simple query protocol, which accepts many statements in one
    // query. Going through executeRaw keeps the adapter's mapping of PostgreSQL errors.
    executeScript: async (script) => {
      await adapter.executeRaw({ sql: script, args: [], argTypes: [] });
    },
    dispose,
  };
}
