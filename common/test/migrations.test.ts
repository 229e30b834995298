// Migrations through the wasm schema engine against a real PostgreSQL (TEST_DATABASE_ADMIN_URL).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyMigrations, checkSchemaDrift, createMigration, markMigrationRolledBack, migrationStatus, slugifyMigrationName } from '../src/db/migrations.ts';
import { dropDatabaseIfExists, replaceDatabaseName } from '../src/db/postgres-admin.ts';

const adminUrl = process.env['TEST_DATABASE_ADMIN_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const repoMigrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
const repoSchemaPath = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));

const createdDatabases: string[] = [];
const tempDirs: string[] = [];

/** A database name nobody has created yet; dropped after the file's tests. */
function reserveDatabaseUrl(): string {
  const name = `votemesh_test_mig_${randomBytes(5).toString('hex')}`;
  createdDatabases.push(name);
  return replaceDatabaseName(adminUrl, name);
}

/** A scratch copy of prisma/ (schema + migrations) that a test may edit. */
async function copyPrismaFolder(): Promise<{ schemaPath: string; migrationsDir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'votemesh-migrations-'));
  tempDirs.push(dir);
  const migrationsDir = path.join(dir, 'migrations');
  await cp(repoMigrationsDir, migrationsDir, { recursive: true });
  const schemaPath = path.join(dir, 'schema.prisma');
  await cp(repoSchemaPath, schemaPath);
  return { schemaPath, migrationsDir };
}

async function addMigration(migrationsDir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(migrationsDir, name));
  await writeFile(path.join(migrationsDir, name, 'migration.sql'), sql);
}

async function queryDatabase<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function listRepoMigrationNames(): Promise<string[]> {
  const entries = await readdir(repoMigrationsDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

after(async () => {
  await Promise.all(createdDatabases.map((name) => dropDatabaseIfExists(adminUrl, name)));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('applyMigrations', () => {
  const databaseUrl = reserveDatabaseUrl();
  let firstRun: Awaited<ReturnType<typeof applyMigrations>>;

  before(async () => {
    firstRun = await applyMigrations({ databaseUrl, migrationsDir: repoMigrationsDir });
  });

  test('creates the missing database and applies every committed migration', async () => {
    assert.equal(firstRun.createdDatabase, true);
    assert.deepEqual(firstRun.appliedMigrationNames, await listRepoMigrationNames());
    const tables = await queryDatabase<{ tablename: string }>(databaseUrl, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
    assert.deepEqual(
      tables.map((row) => row.tablename),
      ['_prisma_migrations', 'audit_events', 'ballots', 'option_tallies', 'poll_options', 'poll_rate_buckets', 'poll_tallies', 'polls'],
    );
  });

  test('a second apply is a no-op', async () => {
    const second = await applyMigrations({ databaseUrl, migrationsDir: repoMigrationsDir });
    assert.deepEqual(second, { appliedMigrationNames: [], createdDatabase: false });
    const rows = await queryDatabase<{ count: string }>(databaseUrl, 'SELECT count(*) FROM _prisma_migrations');
    assert.equal(rows[0]?.count, String((await listRepoMigrationNames()).length));
  });

  test('records each migration in _prisma_migrations as Prisma does, with the sha256 checksum', async () => {
    const rows = await queryDatabase<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
      applied_steps_count: number;
      logs: string | null;
    }>(databaseUrl, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    const names = await listRepoMigrationNames();
    assert.deepEqual(
      rows.map((row) => row.migration_name),
      names,
    );
    for (const row of rows) {
      const script = await readFile(path.join(repoMigrationsDir, row.migration_name, 'migration.sql'));
      assert.equal(row.checksum, createHash('sha256').update(script).digest('hex'), row.migration_name);
      assert.ok(row.finished_at instanceof Date, `${row.migration_name} has finished_at`);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.applied_steps_count, 1);
      assert.equal(row.logs, null);
    }
  });

  test('migrationStatus reports the database as up to date', async () => {
    const status = await migrationStatus({ databaseUrl, migrationsDir: repoMigrationsDir });
    assert.deepEqual(status, {
      databaseExists: true,
      applied: await listRepoMigrationNames(),
      pending: [],
      failed: [],
      edited: [],
      missingLocally: [],
      upToDate: true,
    });
  });
});

describe('applyMigrations from several processes at once', () => {
  test('all succeed on a database none of them found, and each migration is applied once', async () => {
    const databaseUrl = reserveDatabaseUrl();
    // What several replicas or init containers running `npm run db:migrate` on a first deploy do.
    const runs = await Promise.all(Array.from({ length: 3 }, () => applyMigrations({ databaseUrl, migrationsDir: repoMigrationsDir })));
    assert.equal(runs.filter((run) => run.createdDatabase).length, 1, 'one of them created the database');
    assert.deepEqual(runs.flatMap((run) => run.appliedMigrationNames).sort(), (await listRepoMigrationNames()).sort());
    const rows = await queryDatabase<{ count: string }>(databaseUrl, 'SELECT count(*) FROM _prisma_migrations');
    assert.equal(rows[0]?.count, String((await listRepoMigrationNames()).length));
  });
});

describe('migrationStatus', () => {
  test('lists every migration as pending for a database that does not exist', async () => {
    const status = await migrationStatus({ databaseUrl: reserveDatabaseUrl(), migrationsDir: repoMigrationsDir });
    assert.equal(status.databaseExists, false);
    assert.deepEqual(status.pending, await listRepoMigrationNames());
    assert.equal(status.upToDate, false);
  });

  test('notices a migration edited after it was applied', async () => {
    const { migrationsDir } = await copyPrismaFolder();
    const databaseUrl = reserveDatabaseUrl();
    await applyMigrations({ databaseUrl, migrationsDir });
    const [first] = await listRepoMigrationNames();
    assert.ok(first !== undefined);
    await writeFile(path.join(migrationsDir, first, 'migration.sql'), '-- edited\n', { flag: 'a' });
    const status = await migrationStatus({ databaseUrl, migrationsDir });
    assert.deepEqual(status.edited, [first]);
    assert.equal(status.upToDate, false);
  });
});

describe('migration scripts', () => {
  test('run as one query, so $$ bodies with semicolons survive', async () => {
    const { migrationsDir } = await copyPrismaFolder();
    await addMigration(
      migrationsDir,
      '29990101000000_function_body',
      `CREATE FUNCTION votemesh_test_add(a integer, b integer) RETURNS integer AS $$
DECLARE total integer;
BEGIN
  total := a + b;
  RETURN total;
END;
$$ LANGUAGE plpgsql;
`,
    );
    const databaseUrl = reserveDatabaseUrl();
    const result = await applyMigrations({ databaseUrl, migrationsDir });
    assert.equal(result.appliedMigrationNames.at(-1), '29990101000000_function_body');
    const rows = await queryDatabase<{ sum: number }>(databaseUrl, 'SELECT votemesh_test_add(2, 3) AS sum');
    assert.equal(rows[0]?.sum, 5);
  });

  test('a failing migration leaves nothing half-applied and is recorded as failed', async () => {
    const { migrationsDir } = await copyPrismaFolder();
    await addMigration(migrationsDir, '29990101000000_broken', 'CREATE TABLE half_applied (id integer);\nSELECT 1 / 0;\n');
    const databaseUrl = reserveDatabaseUrl();
    await assert.rejects(applyMigrations({ databaseUrl, migrationsDir }), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /29990101000000_broken/);
      assert.match(error.message, /division by zero/);
      return true;
    });
    const tables = await queryDatabase(databaseUrl, "SELECT 1 FROM pg_tables WHERE tablename = 'half_applied'");
    assert.equal(tables.length, 0, 'the statements before the failing one were rolled back');
    const status = await migrationStatus({ databaseUrl, migrationsDir });
    assert.deepEqual(status.failed, ['29990101000000_broken']);
    assert.equal(status.upToDate, false);

    // Once fixed and marked rolled back, the next deploy applies it.
    await writeFile(path.join(migrationsDir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE half_applied (id integer);\n');
    await markMigrationRolledBack({ databaseUrl, migrationName: '29990101000000_broken' });
    const retry = await applyMigrations({ databaseUrl, migrationsDir });
    assert.deepEqual(retry.appliedMigrationNames, ['29990101000000_broken']);
    assert.equal((await migrationStatus({ databaseUrl, migrationsDir })).upToDate, true);
  });
});

describe('checkSchemaDrift', () => {
  test('passes for the committed migrations and schema', async () => {
    const report = await checkSchemaDrift({ databaseUrl: adminUrl, schemaPath: repoSchemaPath, migrationsDir: repoMigrationsDir });
    assert.deepEqual(report, { inSync: true });
  });

  test('fails when the schema gains a field the migrations lack', async () => {
    const { schemaPath, migrationsDir } = await copyPrismaFolder();
    await addFieldToPoll(schemaPath);
    const report = await checkSchemaDrift({ databaseUrl: adminUrl, schemaPath, migrationsDir });
    if (report.inSync) assert.fail('expected drift');
    assert.match(report.summary, /polls/);
    assert.match(report.script, /ALTER TABLE "polls" ADD COLUMN\s+"tags" TEXT\[\]/);
  });
});

describe('createMigration', () => {
  test('writes the missing migration in Prisma format, after which the drift check passes', async () => {
    const { schemaPath, migrationsDir } = await copyPrismaFolder();
    await addFieldToPoll(schemaPath);
    const created = await createMigration({
      databaseUrl: adminUrl,
      schemaPath,
      migrationsDir,
      name: 'Add poll tags!',
      now: new Date('2999-01-02T03:04:05Z'),
    });
    assert.deepEqual(created, {
      migrationName: '29990102030405_add_poll_tags',
      migrationFile: path.join(migrationsDir, '29990102030405_add_poll_tags', 'migration.sql'),
    });
    const script = await readFile(created.migrationFile, 'utf8');
    assert.match(script, /-- AlterTable\nALTER TABLE "polls" ADD COLUMN\s+"tags" TEXT\[\]/);
    assert.deepEqual(await checkSchemaDrift({ databaseUrl: adminUrl, schemaPath, migrationsDir }), { inSync: true });
    const lockfile = await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8');
    assert.equal(lockfile, await readFile(path.join(repoMigrationsDir, 'migration_lock.toml'), 'utf8'));
  });

  test('writes nothing when the migrations already match the schema', async () => {
    const { schemaPath, migrationsDir } = await copyPrismaFolder();
    const created = await createMigration({ databaseUrl: adminUrl, schemaPath, migrationsDir, name: 'noop' });
    assert.equal(created, null);
    assert.deepEqual((await readdir(migrationsDir)).sort(), [...(await listRepoMigrationNames()), 'migration_lock.toml'].sort());
  });

  test('starts a history in an empty folder, lock file included', async () => {
    const { schemaPath } = await copyPrismaFolder();
    const migrationsDir = path.join(path.dirname(schemaPath), 'fresh-migrations');
    const created = await createMigration({ databaseUrl: adminUrl, schemaPath, migrationsDir, name: 'init' });
    assert.ok(created !== null);
    assert.match(path.basename(path.dirname(created.migrationFile)), /^\d{14}_init$/);
    assert.match(await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/);
    assert.deepEqual(await checkSchemaDrift({ databaseUrl: adminUrl, schemaPath, migrationsDir }), { inSync: true });
  });

  test('slugifies names like the Prisma CLI', () => {
    assert.equal(slugifyMigrationName('  Add Poll tags / v2 '), 'add_poll_tags_v2');
    assert.equal(slugifyMigrationName('Crème brûlée'), 'creme_brulee');
    assert.throws(() => slugifyMigrationName('!!!'), /no letters or digits/);
  });
});

test('no shadow databases are left behind', async () => {
  const rows = await queryDatabase<{ datname: string }>(adminUrl, "SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'");
  assert.deepEqual(rows, []);
});

async function addFieldToPoll(schemaPath: string): Promise<void> {
  const schema = await readFile(schemaPath, 'utf8');
  const edited = schema.replace('  question  String\n', '  question  String\n  tags      String[]\n');
  assert.notEqual(edited, schema, 'the Poll model still has its question field');
  await writeFile(schemaPath, edited);
}
