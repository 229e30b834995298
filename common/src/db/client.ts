// The one way services get a PrismaClient: the generated client over @prisma/adapter-pg (Prisma 7
// has no built-in driver). Other modules import Prisma's types from here, not from ./generated, so
// the generated folder's layout stays an implementation detail.
import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';

/** A pg pool; a process that also needs the driver directly gives it to createPrismaClient and uses it too. */
export type DatabasePool = pg.Pool;

export { PrismaClient, Prisma, PollStatus } from './generated/client.ts';
export type { AuditEvent, Ballot, OptionTally, Poll, PollOption, PollRateBucket, PollTally } from './generated/client.ts';

export interface CreatePrismaClientOptions {
  /** Upper bound of the pg pool behind the client (pg's default is 10). */
  poolMax?: number;
  /**
   * SQL texts, exactly as given to `$queryRawUnsafe`, to run as named prepared statements:
   * PostgreSQL parses each once per connection and, after five runs, may keep a generic plan, where
   * an unnamed statement is parsed and planned on every call. Only for a few hot statements
   * whose text never changes: each stays prepared on every pooled connection for its lifetime.
   */
  preparedStatements?: readonly string[];
  /**
   * The isolation of every transaction on the client's connections that does not name its own:
   * single statements outside `$transaction` (each its own transaction) included. Sent in each
   * connection's startup packet (`options=-c default_transaction_isolation=…`), so it costs no round
   * trip and outranks the server's, database's and role's defaults (ALTER DATABASE … SET). Only with
   * a URL: a pool passed in was configured by its owner. @default the server's default
   */
  defaultTransactionIsolation?: TransactionIsolation;
}

export type TransactionIsolation = 'read committed' | 'repeatable read' | 'serializable';

export interface CreateDatabasePoolOptions extends Pick<CreatePrismaClientOptions, 'poolMax'> {
  /**
   * An idle connection broke (the server restarted, say). pg drops it and opens a new one when
   * needed; without a listener the pool's 'error' event would end the process. @default ignored
   */
  onIdleClientError?: (error: Error) => void;
}

/** One pg pool for a process; its owner ends it after the PrismaClient on top disconnects. */
export function createDatabasePool(databaseUrl: string, options: CreateDatabasePoolOptions = {}): DatabasePool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolMax });
  pool.on('error', options.onIdleClientError ?? (() => {}));
  return pool;
}

/** Over its own pool (from the URL), or over `pool`: `poolMax` then does not apply and the caller ends the pool. */
export function createPrismaClient(databaseUrlOrPool: string | DatabasePool, options: CreatePrismaClientOptions = {}): PrismaClient {
  const names = new Map((options.preparedStatements ?? []).map((sql) => [sql, preparedStatementName(sql)]));
  if (typeof databaseUrlOrPool !== 'string' && options.defaultTransactionIsolation !== undefined) {
    throw new Error('createPrismaClient: defaultTransactionIsolation applies to a pool it creates from a URL, not to one passed in');
  }
  const isolation = options.defaultTransactionIsolation;
  const adapter = new PrismaPg(
    typeof databaseUrlOrPool === 'string'
      ? {
          // The space inside the value is escaped: PostgreSQL splits `options` at unescaped spaces.
          connectionString:
            isolation === undefined
              ? databaseUrlOrPool
              : withStartupOption(databaseUrlOrPool, `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`),
          max: options.poolMax,
        }
      : databaseUrlOrPool,
    // '' is pg's unnamed statement, parsed anew on every call: everything else.
    names.size === 0 ? undefined : { statementNameGenerator: (query) => names.get(query.sql) ?? '' },
  );
  return new PrismaClient({ adapter });
}

/**
 * `databaseUrl` with `option` added to its `options` parameter (PostgreSQL's startup options). In
 * the URL, not beside it: pg lets the URL's parameters override the config object's, so an operator's
 * `?options=-c search_path=…` would otherwise silently drop ours; this way both apply.
 */
export function withStartupOption(databaseUrl: string, option: string): string {
  const url = new URL(databaseUrl);
  const existing = url.searchParams.get('options');
  url.searchParams.set('options', existing ? `${existing} ${option}` : option);
  return url.toString();
}

/** Named after the text, so two texts never share a name (pg refuses that) and a new text gets a new one. */
function preparedStatementName(sql: string): string {
  return `votemesh_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
}
