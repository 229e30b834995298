// Throwaway migrated databases for tests. Migrating costs a few hundred milliseconds, copying a
// database a few dozen, so the migrations are applied once into a template database named after a
// hash of the migration files, and every test database is a `CREATE DATABASE … TEMPLATE` copy of it.
// A template outlives the run: the next run with the same migrations reuses it.
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyMigrations } from '../db/migrations.ts';
import { readMigrationList } from '../db/migrations-directory.ts';
import {
  checkDatabaseExists,
  createDatabaseIfMissing,
  dropDatabaseIfExists,
  readDatabaseName,
  readPostgresErrorCode,
  replaceDatabaseName,
  withMaintenanceConnection,
} from '../db/postgres-admin.ts';

const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));
const DUPLICATE_DATABASE = '42P04';

export interface CreateTestDatabaseOptions {
  /** A URL with the right to create databases, e.g. from TEST_DATABASE_ADMIN_URL; defaults to local postgres. */
  adminUrl?: string;
  /** Defaults to the repo's prisma/migrations. */
  migrationsDir?: string;
}

export interface TestDatabase extends AsyncDisposable {
  readonly name: string;
  readonly url: string;
}

/** Template build per (server, migrations hash), shared by every test in this process. */
const templateBuilds = new Map<string, Promise<string>>();

/** A fresh, fully migrated database; `await using db = await createTestDatabase()` drops it afterwards. */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? DEFAULT_ADMIN_URL;
  const template = await ensureTemplateDatabase(adminUrl, options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const name = `votemesh_test_${randomBytes(6).toString('hex')}`;
  if (!(await createDatabaseIfMissing(adminUrl, name, { template }))) {
    throw new Error(`Test database ${name} already exists; refusing to hand out a database that is not fresh`);
  }
  return {
    name,
    url: replaceDatabaseName(adminUrl, name),
    async [Symbol.asyncDispose]() {
      await dropDatabaseIfExists(adminUrl, name);
    },
  };
}

/**
 * Makes a test database refuse new connections and ends the open ones (`refuse`), or lets
 * connections in again: what a PostgreSQL restart does to the pools of the processes using it.
 */
export async function refuseConnections(databaseUrl: string, refuse: boolean): Promise<void> {
  const name = readDatabaseName(databaseUrl);
  await withMaintenanceConnection(databaseUrl, async (client) => {
    await client.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS ${refuse ? 'false' : 'true'}`);
    if (refuse) await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  });
}

function ensureTemplateDatabase(adminUrl: string, migrationsDir: string): Promise<string> {
  return hashMigrations(migrationsDir).then((hash) => {
    const key = `${replaceDatabaseName(adminUrl, 'postgres')}#${hash}`;
    let build = templateBuilds.get(key);
    if (build === undefined) {
      build = buildTemplateDatabase(adminUrl, migrationsDir, `votemesh_template_${hash}`);
      templateBuilds.set(key, build);
      // A failed build must not poison later calls in this process.
      build.catch(() => templateBuilds.delete(key));
    }
    return build;
  });
}

/**
 * Migrates a uniquely named scratch database, then renames it to the template name. The rename is
 * atomic, so other processes (parallel test files) only ever see a complete template; losing the
 * race to another builder is fine. Connections to the template are disallowed, because
 * `CREATE DATABASE … TEMPLATE` fails while anyone is connected to it.
 */
async function buildTemplateDatabase(adminUrl: string, migrationsDir: string, templateName: string): Promise<string> {
  if (await checkDatabaseExists(adminUrl, templateName)) return templateName;
  const scratchName = `${templateName}_build_${randomBytes(4).toString('hex')}`;
  try {
    await applyMigrations({ databaseUrl: replaceDatabaseName(adminUrl, scratchName), migrationsDir });
    await withMaintenanceConnection(adminUrl, async (client) => {
      const scratch = pg.escapeIdentifier(scratchName);
      await client.query(`ALTER DATABASE ${scratch} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
      try {
        await client.query(`ALTER DATABASE ${scratch} RENAME TO ${pg.escapeIdentifier(templateName)}`);
      } catch (error) {
        if (readPostgresErrorCode(error) !== DUPLICATE_DATABASE) throw error;
      }
    });
  } finally {
    // Only still there if we lost the race or failed; a template database must be unmarked to drop.
    await withMaintenanceConnection(adminUrl, async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratchName]);
      if (exists.rowCount === 0) return;
      await client.query(`ALTER DATABASE ${pg.escapeIdentifier(scratchName)} WITH IS_TEMPLATE false`);
    });
    await dropDatabaseIfExists(adminUrl, scratchName);
  }
  return templateName;
}

/** 16 hex digits over every migration's folder name and script and the lock file. */
async function hashMigrations(migrationsDir: string): Promise<string> {
  const list = await readMigrationList(migrationsDir);
  const hash = createHash('sha256');
  hash.update(`lock\0${list.lockfile.content ?? ''}\0`);
  for (const directory of list.migrationDirectories) {
    const content = directory.migrationFile.content;
    if (content.tag === 'error') {
      throw new Error(`Cannot read ${directory.path}/${directory.migrationFile.path} in ${migrationsDir}: ${content.value}`);
    }
    hash.update(`${directory.path}\0${content.value}\0`);
  }
  return hash.digest('hex').slice(0, 16);
}
