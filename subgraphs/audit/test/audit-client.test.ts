// createAuditClient (common/src/grpc/audit-client.ts) against the real audit process: a crash
// mid-stream (SIGKILL) and a restart on the same port must still leave every event in the log
// exactly once, the buffer must stay bounded while the service is away, and a refused event must
// not block the others.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDatabasePool, createPrismaClient, type DatabasePool, type PrismaClient } from '@votemesh/common/db/client';
import { createAuditClient, type AuditClient } from '@votemesh/common/grpc/audit-client';
import { createLogger } from '@votemesh/common/logger';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createAuditStore } from '../src/store.ts';
import { makeDraft, testRedisPrefix } from './harness.ts';
import { freePort } from '@votemesh/common/testing/free-port';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const logger = createLogger({ service: 'audit-client-test', level: 'error' });

interface AuditProcess {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
}

/** Starts `subgraphs/audit/src/main.ts` as a real process and resolves once it logs `listening`. */
async function startAuditProcess(databaseUrl: string, grpcPort: number): Promise<AuditProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './subgraphs/audit/src/instrument.ts', './subgraphs/audit/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      // Its live feed publishes on the bus: keep that off the channels of a dev stack.
      REDIS_PREFIX: testRedisPrefix(),
      PORT: '0',
      GRPC_PORT: String(grpcPort),
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      OTEL_SDK_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  return new Promise<AuditProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`audit process did not log "listening" within 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`audit process exited with ${code} before listening: ${stderr}`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; grpcAddress?: string };
      if (entry.msg === 'listening' && entry.grpcAddress) {
        clearTimeout(timer);
        resolve({ child, grpcAddress: entry.grpcAddress });
      }
    });
  });
}

function kill(audit: AuditProcess): Promise<void> {
  if (audit.child.exitCode !== null || audit.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    audit.child.once('exit', () => resolve());
    audit.child.kill('SIGKILL');
  });
}

describe('createAuditClient', () => {
  let db: TestDatabase;
  let pool: DatabasePool;
  let prisma: PrismaClient;
  const processes: AuditProcess[] = [];
  const clients: AuditClient[] = [];
  before(async () => {
    db = await createTestDatabase();
    pool = createDatabasePool(db.url);
    prisma = createPrismaClient(pool);
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(processes.map(kill));
    await prisma?.$disconnect();
    await pool?.end();
    await db?.[Symbol.asyncDispose]();
  });

  it('delivers every event exactly once across a server crash and restart on the same port', async () => {
    const first = await startAuditProcess(db.url, 0);
    processes.push(first);
    const client = createAuditClient({
      address: first.grpcAddress,
      logger,
      source: 'test',
      rotateEveryMs: 100,
      rotateEveryEvents: 300,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
    });
    clients.push(client);
    const sent: string[] = [];
    const produce = (count: number): void => {
      for (let i = 0; i < count; i += 1) {
        const event = makeDraft();
        sent.push(event.eventId);
        client.record(event);
      }
    };
    // A steady producer (the vote subgraph under load), running across the crash.
    const producer = setInterval(() => produce(25), 2);
    try {
      await waitFor(async () => (await prisma.auditEvent.count()) >= 500, { what: 'events flowing into the log', timeoutMs: 20_000 });
      await kill(first);
      const recordedBeforeRestart = sent.length;
      await waitFor(() => client.stats().callsFailed > 0 && sent.length > recordedBeforeRestart + 500, {
        what: 'the client to notice the crash while events keep coming',
        timeoutMs: 20_000,
      });
      const port = Number(first.grpcAddress.split(':').at(-1));
      processes.push(await startAuditProcess(db.url, port));
      await waitFor(() => client.stats().confirmed > recordedBeforeRestart, { what: 'deliveries to resume after the restart', timeoutMs: 20_000 });
    } finally {
      clearInterval(producer);
    }
    await client.flush(20_000);

    const stats = client.stats();
    assert.equal(stats.buffered, 0);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.confirmed, sent.length);
    const rows = await prisma.auditEvent.findMany({ select: { eventId: true } });
    assert.equal(rows.length, sent.length, 'no event lost and none written twice');
    assert.deepEqual(new Set(rows.map((row) => row.eventId)), new Set(sent));
    const verification = await createAuditStore(prisma, pool).verify();
    assert.equal(verification.ok, true, verification.reason ?? '');
    assert.equal(verification.checkedEvents, sent.length);
  });

  it('drops (and counts) events beyond maxBuffered while the service is unreachable, and close() still returns', async () => {
    const client = createAuditClient({
      address: `127.0.0.1:${await freePort()}`,
      logger,
      source: 'test',
      maxBuffered: 100,
      backoffInitialMs: 20,
      backoffMaxMs: 100,
      closeTimeoutMs: 100,
    });
    for (let i = 0; i < 150; i += 1) client.record(makeDraft());
    assert.deepEqual([client.stats().buffered, client.stats().dropped], [100, 50]);
    await waitFor(() => client.stats().callsFailed >= 2, { what: 'reconnect attempts with backoff' });
    await assert.rejects(client.flush(200), /timed out after 200 ms with 100 events unconfirmed/);
    await client.close();
    client.record(makeDraft());
    assert.equal(client.stats().dropped, 51, 'recording after close is dropped, not thrown');
  });

  it('drops only the event the server refuses and delivers the rest; close() flushes', async () => {
    const audit = processes.at(-1);
    assert.ok(audit);
    const client = createAuditClient({ address: audit.grpcAddress, logger, source: 'test' });
    const good = [makeDraft(), makeDraft(), makeDraft()];
    const bad = makeDraft({ at: 'yesterday' });
    client.record(good[0] ?? makeDraft());
    client.record(bad);
    client.record(good[1] ?? makeDraft());
    client.record(good[2] ?? makeDraft());
    // data that cannot be encoded is dropped at record() without throwing
    client.record(makeDraft({ data: { big: 1n } }));
    await client.close();
    const stats = client.stats();
    assert.deepEqual([stats.rejected, stats.dropped, stats.buffered, stats.confirmed], [1, 1, 0, 3]);
    const stored = await prisma.auditEvent.count({ where: { eventId: { in: [...good, bad].map((event) => event.eventId) } } });
    assert.equal(stored, 3);
  });
});
