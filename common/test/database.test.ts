// createTestDatabase (template copies) and createPrismaClient against a migrated database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import pg from 'pg';
import { createPrismaClient, PollStatus } from '../src/db/client.ts';
import { checkDatabaseExists } from '../src/db/postgres-admin.ts';
import { createTestDatabase } from '../src/testing/database.ts';

const adminUrl = process.env['TEST_DATABASE_ADMIN_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

describe('createTestDatabase', () => {
  test('hands out a migrated database and drops it on dispose, even with connections open', async () => {
    let name: string;
    const client = await (async () => {
      await using database = await createTestDatabase({ adminUrl });
      name = database.name;
      assert.match(database.name, /^votemesh_test_[0-9a-f]{12}$/);
      const connection = new pg.Client({ connectionString: database.url });
      await connection.connect();
      connection.on('error', () => {}); // the drop terminates this session on purpose
      const applied = await connection.query('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL');
      assert.ok(applied.rowCount !== null && applied.rowCount > 0);
      await connection.query('SELECT 1 FROM polls');
      return connection;
    })();
    assert.equal(await checkDatabaseExists(adminUrl, name!), false);
    await client.end().catch(() => {});
  });

  test('each call gets its own empty copy', async () => {
    await using first = await createTestDatabase({ adminUrl });
    await using second = await createTestDatabase({ adminUrl });
    assert.notEqual(first.url, second.url);
    await using prisma = disposable(createPrismaClient(first.url));
    await prisma.client.poll.create({ data: { id: randomUUID(), question: 'q?', createdBy: 'test' } });
    await using other = disposable(createPrismaClient(second.url));
    assert.equal(await other.client.poll.count(), 0);
  });

  test('copies one migrated template instead of migrating each database', async () => {
    await using warm = await createTestDatabase({ adminUrl });
    await using copy = await createTestDatabase({ adminUrl });
    // Migrating writes fresh random ids and start times into _prisma_migrations: identical rows
    // mean both databases are copies of the same migrated template (how fast that is, a timed
    // assertion could only guess on a busy machine).
    const history = async (url: string): Promise<unknown[]> => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query('SELECT id, migration_name, started_at FROM _prisma_migrations ORDER BY migration_name')).rows;
      } finally {
        await client.end();
      }
    };
    const warmHistory = await history(warm.url);
    assert.ok(warmHistory.length > 0);
    assert.deepEqual(await history(copy.url), warmHistory);
  });
});

describe('createPrismaClient', () => {
  test("sets the default isolation alongside the URL's own startup options, not instead of them", async () => {
    await using database = await createTestDatabase({ adminUrl });
    const url = new URL(database.url);
    url.searchParams.set('options', '-c statement_timeout=4321');
    await using prisma = disposable(createPrismaClient(url.toString(), { poolMax: 1, defaultTransactionIsolation: 'repeatable read' }));
    const [isolation] = await prisma.client.$queryRaw<{ transaction_isolation: string }[]>`SHOW transaction_isolation`;
    assert.equal(isolation?.transaction_isolation, 'repeatable read');
    const [timeout] = await prisma.client.$queryRaw<{ statement_timeout: string }[]>`SHOW statement_timeout`;
    assert.equal(timeout?.statement_timeout, '4321ms', "the URL's option still applies");
  });

  test('runs $queryRaw and findMany against a migrated database', async () => {
    await using database = await createTestDatabase({ adminUrl });
    await using prisma = disposable(createPrismaClient(database.url, { poolMax: 2 }));
    const [row] = await prisma.client.$queryRaw<{ answer: number }[]>`SELECT 41 + ${1}::int AS answer`;
    assert.equal(row?.answer, 42);

    const pollId = randomUUID();
    await prisma.client.poll.create({
      data: {
        id: pollId,
        question: 'Tabs or spaces?',
        createdBy: 'admin',
        status: PollStatus.OPEN,
        options: {
          create: [
            { id: randomUUID(), label: 'tabs', position: 0 },
            { id: randomUUID(), label: 'spaces', position: 1 },
          ],
        },
      },
    });
    const polls = await prisma.client.poll.findMany({ include: { options: { orderBy: { position: 'asc' } } } });
    assert.equal(polls.length, 1);
    assert.equal(polls[0]?.status, PollStatus.OPEN);
    assert.deepEqual(
      polls[0]?.options.map((option) => option.label),
      ['tabs', 'spaces'],
    );
  });
});

function disposable<T extends { $disconnect(): Promise<void> }>(client: T): { client: T } & AsyncDisposable {
  return { client, [Symbol.asyncDispose]: () => client.$disconnect() };
}
