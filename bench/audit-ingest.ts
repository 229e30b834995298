// `node --import tsx bench/audit-ingest.ts`: what the audit log costs per event. The real audit
// process (subgraphs/audit/src/main.ts, its own process, CPU read from /proc) is fed by the real
// AuditSink client (common/src/grpc/audit-client.ts) in this process at a steady rate, the way the
// vote subgraph and the worker feed it; PostgreSQL's share is the CPU of the backends connected to
// the benchmark's database.
// Flags: --events N (measured, after a warm-up of --warmup N) --rate events/s (0: all at once)
//        --root DIR: the checkout whose audit process and client run (e.g. /work/main for the base
//        commit; this checkout by default) --profile-dir DIR: the audit process writes a V8 CPU
//        profile there when it exits (--cpu-prof). --batch-delay-ms N: the client's batchDelayMs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AuditEventDraft } from '@votemesh/common/contracts/audit';
import pg from 'pg';
import { readCpuSeconds } from './src/proc.ts';
import { formatNumber, printHeader, readFlags, table } from './src/report.ts';

const flags = readFlags({ events: '50000', warmup: '3000', rate: '1200', root: '', 'profile-dir': '', 'batch-delay-ms': '' });
const root = resolve(flags.root || fileURLToPath(new URL('..', import.meta.url)));
const events = Number(flags.events);
const warmup = Number(flags.warmup);
const rate = Number(flags.rate);

// The client and helpers come from `root`, so the same script measures another checkout.
const { createAuditClient } = (await import(`${root}/common/src/grpc/audit-client.ts`)) as typeof import('@votemesh/common/grpc/audit-client');
const { createTestDatabase } = (await import(`${root}/common/src/testing/database.ts`)) as typeof import('@votemesh/common/testing/database');
const { createLogger } = (await import(`${root}/common/src/logger.ts`)) as typeof import('@votemesh/common/logger');

await printHeader('bench:audit-ingest — CPU per audit event: audit process, sender, PostgreSQL');
const commit = await new Promise<string>((done) => {
  const git = spawn('git', ['-C', root, 'log', '-1', '--format=%h %s'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  git.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  git.on('close', () => done(out.trim()));
});
console.log(`checkout: ${root} (${commit})\nevents: ${formatNumber(warmup)} warm-up + ${formatNumber(events)} measured at ${rate || 'max'} events/s\n`);

await using db = await createTestDatabase();
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();
const audit = await startAuditProcess(db.url);
const logger = createLogger({ service: 'bench-audit-ingest', level: 'warn' });
const client = createAuditClient({
  address: audit.grpcAddress,
  logger,
  source: 'bench',
  ...(flags['batch-delay-ms'] ? { batchDelayMs: Number(flags['batch-delay-ms']) } : {}),
});

try {
  await produce(warmup);
  await client.flush(60_000);

  const backends = await postgresBackends();
  const start = { audit: readCpuSeconds(audit.pid), postgres: sumCpu(backends), self: process.cpuUsage(), at: performance.now() };
  await produce(events);
  await client.flush(120_000);
  const wallSeconds = (performance.now() - start.at) / 1000;
  const own = process.cpuUsage(start.self);
  const used = {
    audit: readCpuSeconds(audit.pid) - start.audit,
    sender: (own.user + own.system) / 1e6,
    postgres: sumCpu(await postgresBackends()) - start.postgres,
  };

  const { rows } = await admin.query<{ count: string }>('SELECT count(*)::text AS count FROM audit_events');
  const stored = Number(rows[0]?.count);
  const stats = client.stats();
  const perEvent = (seconds: number): string => `${formatNumber((seconds / events) * 1e6)} µs`;
  console.log(
    table(
      ['process', 'CPU s', 'cores', 'CPU per event'],
      Object.entries(used).map(([name, seconds]) => [name, seconds.toFixed(2), (seconds / wallSeconds).toFixed(3), perEvent(seconds)]),
    ),
  );
  console.log(
    `\nwall ${wallSeconds.toFixed(1)} s; stored ${formatNumber(stored)} of ${formatNumber(warmup + events)}; client: ${stats.callsOpened} calls, ${stats.callsFailed} failed, ${stats.dropped} dropped, ${stats.rejected} rejected`,
  );
  if (stored !== warmup + events) process.exitCode = 1;
} finally {
  await client.close();
  await stopAuditProcess(audit.child);
  await admin.end();
}

interface AuditProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcAddress: string;
}

async function startAuditProcess(databaseUrl: string): Promise<AuditProcess> {
  const profile = flags['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(flags['profile-dir'])}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', '--import', './subgraphs/audit/src/instrument.ts', './subgraphs/audit/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_PREFIX: `vmbench:${randomUUID().slice(0, 8)}:`,
      PORT: '0',
      GRPC_PORT: '0',
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  return new Promise<AuditProcess>((done, fail) => {
    const timer = setTimeout(() => fail(new Error('the audit process did not log "listening" within 60 s')), 60_000);
    child.once('exit', (code) => fail(new Error(`the audit process exited with ${code} before listening`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; grpcAddress?: string };
      if (entry.msg === 'listening' && entry.grpcAddress && child.pid !== undefined) {
        clearTimeout(timer);
        done({ child, pid: child.pid, grpcAddress: entry.grpcAddress });
      }
    });
  });
}

function stopAuditProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  // SIGTERM lets it shut down normally, which is also when --cpu-prof writes its profile.
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

/** The pids of the PostgreSQL backends serving the benchmark's database (the audit process's pool). */
async function postgresBackends(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  return rows.map((row) => row.pid);
}

function sumCpu(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += readCpuSeconds(pid);
    } catch {
      // the backend exited meanwhile
    }
  }
  return total;
}

let counter = 0;
/** A vote.counted event shaped like the worker's. */
function draft(): AuditEventDraft {
  counter += 1;
  return {
    eventId: randomUUID(),
    at: new Date().toISOString(),
    actor: 'worker',
    action: 'vote.counted',
    subjectType: 'Vote',
    subjectId: randomUUID(),
    pollId: '0b8e7c6d-5a4b-4c3d-8e2f-1a0b9c8d7e6f',
    traceId: randomUUID().replaceAll('-', ''),
    data: {
      voterId: `voter:${counter % 2000}`,
      optionId: '9e8d7c6b-5a49-4382-9716-05f4e3d2c1b0',
      streamId: `${Date.now()}-${counter}`,
      castAt: new Date().toISOString(),
      change: 'new',
    },
  };
}

/** Records `count` events: at `rate` per second from a 1 ms timer (a few per tick, like requests), or all at once. */
function produce(count: number): Promise<void> {
  if (rate === 0) {
    for (let i = 0; i < count; i += 1) client.record(draft());
    return Promise.resolve();
  }
  const started = performance.now();
  let sent = 0;
  return new Promise((done) => {
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate));
      for (; sent < due; sent += 1) client.record(draft());
      if (sent >= count) {
        clearInterval(timer);
        done();
      }
    }, 1);
  });
}
