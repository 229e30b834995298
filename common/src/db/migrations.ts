// Prisma Migrate without the native engine: deploy, create, status and drift check, driven through
// Prisma's wasm schema engine. The on-disk format and the `_prisma_migrations` bookkeeping are the
// engine's own, so `prisma migrate deploy` (where its native engine exists) agrees with the result.
// This module reads no environment: callers pass URLs and paths.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DiffTarget, MigrationList, SchemaContainer, SchemaFilter } from '@prisma/schema-engine-wasm';
import { formatLockfile, listMigrationNames, readMigrationList, writeMigration } from './migrations-directory.ts';
import { checkDatabaseExists, createDatabaseIfMissing, describeError, readDatabaseName, redactDatabaseUrl, replaceDatabaseName } from './postgres-admin.ts';
import { runWithSchemaEngine, type MigrationLogger } from './schema-engine.ts';

export type { MigrationLogger };

const PROVIDER = 'postgresql';
/** No tables or enums are managed outside Prisma in this project. */
const NO_EXTERNAL_ENTITIES: SchemaFilter = { externalTables: [], externalEnums: [] };
/** Prisma's limit for the user-given part of a migration directory name. */
const MAX_MIGRATION_NAME_LENGTH = 200;

export interface ApplyMigrationsOptions {
  databaseUrl: string;
  migrationsDir: string;
  logger?: MigrationLogger;
}

export interface ApplyMigrationsResult {
  /** Migrations applied by this call, oldest first; empty when the database was up to date. */
  appliedMigrationNames: string[];
  createdDatabase: boolean;
}

/** What `prisma migrate deploy` does: create the database if needed, then apply pending migrations. */
export async function applyMigrations(options: ApplyMigrationsOptions): Promise<ApplyMigrationsResult> {
  const { databaseUrl, logger } = options;
  const migrationsList = await readMigrationList(options.migrationsDir);
  assertLockfileProvider(migrationsList);
  const createdDatabase = await createDatabaseIfMissing(databaseUrl, readDatabaseName(databaseUrl));
  if (createdDatabase) logger?.info(`Created database ${redactDatabaseUrl(databaseUrl)}`);
  let appliedMigrationNames: string[];
  try {
    ({ appliedMigrationNames } = await runWithSchemaEngine(
      `Applying migrations from ${migrationsList.baseDir} to ${redactDatabaseUrl(databaseUrl)}`,
      withLogger({ databaseUrl }, logger),
      (engine) => engine.applyMigrations({ migrationsList, filters: NO_EXTERNAL_ENTITIES }),
    ));
  } catch (error) {
    throw await explainFailedApply(error, options);
  }
  for (const name of appliedMigrationNames) logger?.info(`Applied migration ${name}`);
  if (appliedMigrationNames.length === 0) logger?.info('No pending migrations');
  return { appliedMigrationNames, createdDatabase };
}

/**
 * Through the driver adapter the engine reports a failed script as a bare database error, without
 * saying which migration it was; the failed row in `_prisma_migrations` does.
 */
async function explainFailedApply(error: unknown, options: ApplyMigrationsOptions): Promise<Error> {
  const failed = await migrationStatus({ databaseUrl: options.databaseUrl, migrationsDir: options.migrationsDir }).then(
    (status) => status.failed,
    () => [],
  );
  if (!(error instanceof Error) || failed.length === 0) return error instanceof Error ? error : new Error(String(error));
  return new Error(
    `${error.message}\nRecorded as failed in _prisma_migrations: ${failed.join(', ')}. Each migration runs as one ` +
      'implicit transaction, so a failed one leaves no partial changes (unless it commits itself). Fix it, then ' +
      'mark it rolled back (markMigrationRolledBack, i.e. `scripts/migrate.ts resolve --rolled-back <name>`) ' +
      'before deploying again.',
    { cause: error },
  );
}

export interface MarkMigrationRolledBackOptions {
  databaseUrl: string;
  migrationName: string;
  logger?: MigrationLogger;
}

/**
 * What `prisma migrate resolve --rolled-back` does: marks a failed migration as rolled back, so the
 * next deploy runs it again. The row stays in `_prisma_migrations` as an audit trail.
 */
export async function markMigrationRolledBack(options: MarkMigrationRolledBackOptions): Promise<void> {
  const { databaseUrl, migrationName } = options;
  await runWithSchemaEngine(
    `Marking migration ${migrationName} as rolled back in ${redactDatabaseUrl(databaseUrl)}`,
    withLogger({ databaseUrl }, options.logger),
    (engine) => engine.markMigrationRolledBack({ migrationName }),
  );
  options.logger?.info(`Marked migration ${migrationName} as rolled back`);
}

export interface CreateMigrationOptions {
  /** Any database URL on the server that hosts the temporary shadow database; it is not modified. */
  databaseUrl: string;
  /** A schema.prisma file, or a folder of .prisma files. */
  schemaPath: string;
  migrationsDir: string;
  /** User-given name, e.g. "add poll tags"; it is slugified like `prisma migrate dev --name`. */
  name: string;
  logger?: MigrationLogger;
  /** The clock for the directory's timestamp; tests pass a fixed one. */
  now?: Date;
}

export interface CreatedMigration {
  migrationName: string;
  migrationFile: string;
}

/**
 * What `prisma migrate dev --create-only` does: replays the migrations into a shadow database, diffs
 * the result against the schema and writes the difference as a new migration. Returns null (and
 * writes nothing) when the migrations already produce the schema.
 */
export async function createMigration(options: CreateMigrationOptions): Promise<CreatedMigration | null> {
  const slug = slugifyMigrationName(options.name);
  const migrationsList = await readMigrationListForDiff(options.migrationsDir);
  const schemaFiles = await readSchemaFiles(options.schemaPath);
  // The wasm engine's own createMigration has no way to reach a shadow database (it only gets one
  // in diff/diagnose), so we generate the script with `diff` — the same renderer — and name and
  // write the folder as the CLI would.
  const diff = await diffMigrationsAgainstSchema('Creating a migration', options, migrationsList, schemaFiles, true);
  if (diff.exitCode === 0) {
    options.logger?.info('The migrations already match the schema: no migration created');
    return null;
  }
  const migrationName = `${formatMigrationTimestamp(options.now ?? new Date())}_${slug}`;
  const migrationFile = await writeMigration(migrationsList, {
    name: migrationName,
    script: diff.output,
    extension: 'sql',
    provider: PROVIDER,
  });
  options.logger?.info(`Created migration ${migrationFile}`);
  return { migrationName, migrationFile };
}

export interface MigrationStatusOptions {
  databaseUrl: string;
  migrationsDir: string;
  logger?: MigrationLogger;
}

export interface MigrationStatus {
  databaseExists: boolean;
  /** Local migrations recorded as successfully applied. */
  applied: string[];
  /** Local migrations not applied yet (what `applyMigrations` would apply). */
  pending: string[];
  /** Migrations whose last attempt failed; `prisma migrate deploy` refuses to run until resolved. */
  failed: string[];
  /** Applied migrations whose migration.sql changed since (checksum mismatch). */
  edited: string[];
  /** Migrations recorded in the database that have no folder here. */
  missingLocally: string[];
  upToDate: boolean;
}

/** What `prisma migrate status` reports. Never creates or changes the database. */
export async function migrationStatus(options: MigrationStatusOptions): Promise<MigrationStatus> {
  const { databaseUrl } = options;
  const migrationsList = await readMigrationList(options.migrationsDir);
  const localNames = listMigrationNames(migrationsList);
  if (!(await checkDatabaseExists(databaseUrl, readDatabaseName(databaseUrl)))) {
    return summarizeStatus({ databaseExists: false, localNames, pending: localNames });
  }
  const diagnosis = await runWithSchemaEngine(
    `Reading the migration status of ${redactDatabaseUrl(databaseUrl)}`,
    withLogger({ databaseUrl }, options.logger),
    (engine) =>
      engine.diagnoseMigrationHistory({
        migrationsList,
        optInToShadowDatabase: false,
        filters: NO_EXTERNAL_ENTITIES,
      }),
  );
  const history = diagnosis.history;
  return summarizeStatus({
    databaseExists: true,
    localNames,
    pending: history !== null && history.diagnostic !== 'migrationsDirectoryIsBehind' ? history.unappliedMigrationNames : [],
    missingLocally: history !== null && history.diagnostic !== 'databaseIsBehind' ? history.unpersistedMigrationNames : [],
    failed: diagnosis.failedMigrationNames,
    edited: diagnosis.editedMigrationNames,
  });
}

export interface CheckSchemaDriftOptions {
  /** Any database URL on the server that hosts the temporary shadow database; it is not modified. */
  databaseUrl: string;
  schemaPath: string;
  migrationsDir: string;
  logger?: MigrationLogger;
}

export type SchemaDriftReport =
  | { inSync: true }
  | {
      inSync: false;
      /** The engine's human-readable list of differences. */
      summary: string;
      /** The SQL a new migration would contain to catch up with the schema. */
      script: string;
    };

/**
 * Whether replaying the committed migrations yields exactly the schema in schema.prisma. For CI: a
 * schema edit without its migration (or a hand-edited migration) shows up here.
 */
export async function checkSchemaDrift(options: CheckSchemaDriftOptions): Promise<SchemaDriftReport> {
  const migrationsList = await readMigrationListForDiff(options.migrationsDir);
  const schemaFiles = await readSchemaFiles(options.schemaPath);
  const action = 'Comparing the migrations with the schema';
  const summary = await diffMigrationsAgainstSchema(action, options, migrationsList, schemaFiles, false);
  if (summary.exitCode === 0) return { inSync: true };
  const script = await diffMigrationsAgainstSchema(action, options, migrationsList, schemaFiles, true);
  return { inSync: false, summary: summary.output, script: script.output };
}

async function diffMigrationsAgainstSchema(
  action: string,
  options: { databaseUrl: string; logger?: MigrationLogger },
  migrationsList: MigrationList,
  schemaFiles: SchemaContainer[],
  script: boolean,
): Promise<{ exitCode: number; output: string }> {
  const from: DiffTarget = { tag: 'migrations', ...migrationsList };
  const to: DiffTarget = { tag: 'schemaDatamodel', files: schemaFiles };
  // The engine keeps a connection to its "main" database even when it only diffs; point it at the
  // maintenance database so the target database need not exist. Shadow databases are created and
  // dropped next to it by the adapter factory.
  const engineOptions = withLogger({ databaseUrl: replaceDatabaseName(options.databaseUrl, 'postgres') }, options.logger);
  const result = await runWithSchemaEngine(action, engineOptions, (engine) => engine.diff({ from, to, script, exitCode: true, filters: NO_EXTERNAL_ENTITIES }));
  return { exitCode: result.exitCode, output: result.stdout ?? '' };
}

/** The migrations list, with the lock file the CLI would write if the folder has none yet. */
async function readMigrationListForDiff(migrationsDir: string): Promise<MigrationList> {
  const list = await readMigrationList(migrationsDir, { allowMissing: true });
  assertLockfileProvider(list);
  return list.lockfile.content === null ? { ...list, lockfile: { ...list.lockfile, content: formatLockfile(PROVIDER) } } : list;
}

function assertLockfileProvider(list: MigrationList): void {
  const content = list.lockfile.content;
  if (content === null) return;
  const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(content)?.[1];
  if (provider !== PROVIDER) {
    throw new Error(`${path.join(list.baseDir, list.lockfile.path)} says provider "${provider ?? '(none)'}", expected "${PROVIDER}"`);
  }
}

async function readSchemaFiles(schemaPath: string): Promise<SchemaContainer[]> {
  const resolved = path.resolve(schemaPath);
  const info = await stat(resolved).catch((error: unknown) => {
    throw new Error(`Cannot read the Prisma schema at ${resolved}: ${describeError(error)}`, { cause: error });
  });
  const files = info.isDirectory()
    ? (await readdir(resolved, { recursive: true }))
        .filter((name) => name.endsWith('.prisma'))
        .sort()
        .map((name) => path.join(resolved, name))
    : [resolved];
  if (files.length === 0) throw new Error(`No .prisma files in ${resolved}`);
  return Promise.all(files.map(async (file) => ({ path: file, content: await readFile(file, 'utf8') })));
}

/** `add Poll tags!` -> `add_poll_tags`, as the CLI's slugify does for `--name`. */
export function slugifyMigrationName(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_MIGRATION_NAME_LENGTH);
  if (slug === '') throw new Error(`Migration name ${JSON.stringify(name)} has no letters or digits`);
  return slug;
}

/** UTC `YYYYMMDDHHMMSS`, the prefix Prisma gives migration folders. */
export function formatMigrationTimestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14);
}

function summarizeStatus(parts: {
  databaseExists: boolean;
  localNames: string[];
  pending: string[];
  failed?: string[];
  edited?: string[];
  missingLocally?: string[];
}): MigrationStatus {
  const failed = parts.failed ?? [];
  const edited = parts.edited ?? [];
  const missingLocally = parts.missingLocally ?? [];
  const notApplied = new Set([...parts.pending, ...failed]);
  return {
    databaseExists: parts.databaseExists,
    applied: parts.localNames.filter((name) => !notApplied.has(name)),
    pending: parts.pending,
    failed,
    edited,
    missingLocally,
    upToDate: parts.pending.length === 0 && failed.length === 0 && edited.length === 0 && missingLocally.length === 0,
  };
}

function withLogger(options: { databaseUrl: string }, logger: MigrationLogger | undefined): { databaseUrl: string; logger?: MigrationLogger } {
  return logger === undefined ? options : { ...options, logger };
}
