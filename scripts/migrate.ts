// `prisma migrate` for this repo without the native engine the 7.x CLI downloads (see
// common/src/db/migrations.ts). Usage:
//   node --import tsx scripts/migrate.ts [deploy]          apply pending migrations (creates the DB)
//   node --import tsx scripts/migrate.ts dev --name <name> write a new migration from schema.prisma
//   node --import tsx scripts/migrate.ts status            applied / pending; exit 1 unless up to date
//   node --import tsx scripts/migrate.ts check             exit 1 if migrations and schema.prisma drift
//   node --import tsx scripts/migrate.ts resolve --rolled-back <name>   unblock deploys after a failed migration
// DATABASE_URL picks the database (default postgresql://postgres@127.0.0.1:5432/votemesh); `dev` and
// `check` only use its server, for a temporary shadow database.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  applyMigrations,
  checkSchemaDrift,
  createMigration,
  markMigrationRolledBack,
  migrationStatus,
  type MigrationLogger,
} from '@votemesh/common/db/migrations';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/votemesh';
const schemaPath = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url));
const migrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

const logger: MigrationLogger = {
  info: (message) => console.log(message),
  warn: (message) => console.warn(message),
};

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string', short: 'n' }, 'rolled-back': { type: 'string' } },
  });
  const command = positionals[0] ?? 'deploy';
  const databaseUrl = process.env['DATABASE_URL'] ?? DEFAULT_DATABASE_URL;
  switch (command) {
    case 'deploy':
      await applyMigrations({ databaseUrl, migrationsDir, logger });
      return 0;
    case 'dev':
      return runDev(databaseUrl, values.name);
    case 'status':
      return runStatus(databaseUrl);
    case 'check':
      return runCheck(databaseUrl);
    case 'resolve':
      return runResolve(databaseUrl, values['rolled-back']);
    default:
      console.error(`Unknown command "${command}". Use deploy, dev --name <name>, status, check or resolve --rolled-back <name>.`);
      return 2;
  }
}

async function runDev(databaseUrl: string, name: string | undefined): Promise<number> {
  if (name === undefined) {
    console.error('`dev` needs a migration name: scripts/migrate.ts dev --name add_poll_tags');
    return 2;
  }
  await createMigration({ databaseUrl, schemaPath, migrationsDir, name, logger });
  return 0;
}

async function runResolve(databaseUrl: string, migrationName: string | undefined): Promise<number> {
  if (migrationName === undefined) {
    console.error('`resolve` needs the failed migration: scripts/migrate.ts resolve --rolled-back <migration folder name>');
    return 2;
  }
  await markMigrationRolledBack({ databaseUrl, migrationName, logger });
  return 0;
}

async function runStatus(databaseUrl: string): Promise<number> {
  const status = await migrationStatus({ databaseUrl, migrationsDir, logger });
  if (!status.databaseExists) console.log('The database does not exist yet.');
  printList('Applied', status.applied);
  printList('Pending', status.pending);
  printList('Failed (resolve before deploying)', status.failed);
  printList('Edited after being applied', status.edited);
  printList('In the database but missing from prisma/migrations', status.missingLocally);
  console.log(status.upToDate ? 'Database schema is up to date.' : 'Database schema is NOT up to date.');
  return status.upToDate ? 0 : 1;
}

async function runCheck(databaseUrl: string): Promise<number> {
  const report = await checkSchemaDrift({ databaseUrl, schemaPath, migrationsDir, logger });
  if (report.inSync) {
    console.log('prisma/migrations produce exactly prisma/schema.prisma.');
    return 0;
  }
  console.error(
    'prisma/migrations do not produce prisma/schema.prisma. Differences:\n\n' +
      `${report.summary.trim()}\n\n` +
      'Create the missing migration with `npm run db:migrate:dev -- --name <name>`; it would contain:\n\n' +
      report.script.trim(),
  );
  return 1;
}

function printList(title: string, names: string[]): void {
  if (names.length === 0) return;
  console.log(`${title}:`);
  for (const name of names) console.log(`  ${name}`);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
