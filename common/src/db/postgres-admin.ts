// Server-level chores (create/drop databases) that neither Prisma's wasm engine nor the driver adapter
// offer. They run on the server's maintenance database, because a database cannot create or drop itself.
import pg from 'pg';

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/** The same server and credentials as `databaseUrl`, pointed at another database. */
export function replaceDatabaseName(databaseUrl: string, databaseName: string): string {
  const url = parseDatabaseUrl(databaseUrl);
  url.pathname = `/${encodeURIComponent(databaseName)}`;
  return url.toString();
}

export function readDatabaseName(databaseUrl: string): string {
  const name = decodeURIComponent(parseDatabaseUrl(databaseUrl).pathname.replace(/^\//, ''));
  if (name === '') throw new Error(`Database URL ${redactDatabaseUrl(databaseUrl)} names no database`);
  return name;
}

/** The URL with its password masked, safe for logs and error messages. */
export function redactDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** Runs `work` on a short-lived single connection to the server's `postgres` database. */
export async function withMaintenanceConnection<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: replaceDatabaseName(databaseUrl, 'postgres') });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`Cannot connect to PostgreSQL at ${redactDatabaseUrl(databaseUrl)}: ${describeError(error)}`, {
      cause: error,
    });
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function checkDatabaseExists(databaseUrl: string, databaseName: string): Promise<boolean> {
  return withMaintenanceConnection(databaseUrl, async (client) => {
    const result = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    return result.rowCount !== null && result.rowCount > 0;
  });
}

/**
 * Creates the database unless it exists; returns whether it created it. Concurrent callers racing
 * to create the same database are fine: a loser reports false. PostgreSQL answers it with
 * `duplicate_database`, or, when both passed its own existence check at the same moment, with a
 * unique violation on pg_database's name index (then the database is checked for again).
 */
export async function createDatabaseIfMissing(databaseUrl: string, databaseName: string, options: { template?: string } = {}): Promise<boolean> {
  return withMaintenanceConnection(databaseUrl, async (client) => {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (existing.rowCount !== null && existing.rowCount > 0) return false;
    const template = options.template === undefined ? '' : ` TEMPLATE ${pg.escapeIdentifier(options.template)}`;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName)}${template}`);
      return true;
    } catch (error) {
      const code = readPostgresErrorCode(error);
      if (code === DUPLICATE_DATABASE) return false;
      if (code === UNIQUE_VIOLATION) {
        const created = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
        if (created.rowCount !== null && created.rowCount > 0) return false;
      }
      throw new Error(`Cannot create database "${databaseName}": ${describeError(error)}`, { cause: error });
    }
  });
}

/**
 * Drops the database if it exists. `WITH (FORCE)` terminates the sessions still connected to it
 * first (PostgreSQL 13+), so a leaked pool cannot block the drop.
 */
export async function dropDatabaseIfExists(databaseUrl: string, databaseName: string): Promise<void> {
  await withMaintenanceConnection(databaseUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(databaseName)} WITH (FORCE)`);
  });
}

export function readPostgresErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseDatabaseUrl(databaseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch (error) {
    throw new Error(`Not a valid database URL: ${redactDatabaseUrl(databaseUrl)}`, { cause: error });
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(`Expected a postgresql:// URL, got ${url.protocol}// in ${redactDatabaseUrl(databaseUrl)}`);
  }
  return url;
}
