// `npm start`: applies migrations, then runs all five votemesh processes locally as child
// processes with prefixed, readable logs, waits until each answers /readyz and prints the endpoint.
// Ctrl-C (or SIGTERM) stops them all gracefully.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { applyMigrations } from '@votemesh/common/db/migrations';
import { waitFor } from '@votemesh/common/testing/wait-for';

const root = fileURLToPath(new URL('..', import.meta.url));

interface ProcessSpec {
  readonly name: string;
  readonly entry: string;
  readonly color: number;
  readonly env: Record<string, string>;
  readonly readyUrl: string;
}

// Local defaults for a developer machine; every one can be overridden from the environment.
const shared: Record<string, string> = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/votemesh',
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_PREFIX: 'vm:',
  IDENTITY_SECRET: 'dev-only-identity-secret-change-me-0123456789',
  ADMIN_BOOTSTRAP_SECRET: 'dev-admin-secret',
  LOG_FORMAT: 'pretty',
  TALLY_GRPC_URL: '127.0.0.1:50051',
  AUDIT_GRPC_URL: '127.0.0.1:50052',
};
const env = { ...shared, ...pickDefined(process.env) };

const processes: ProcessSpec[] = [
  { name: 'audit', entry: 'subgraphs/audit/src/main.ts', color: 35, env: { PORT: '4003', GRPC_PORT: '50052' }, readyUrl: 'http://127.0.0.1:4003/readyz' },
  { name: 'worker', entry: 'worker/src/main.ts', color: 33, env: { PORT: '4004', GRPC_PORT: '50051' }, readyUrl: 'http://127.0.0.1:4004/readyz' },
  { name: 'vote', entry: 'subgraphs/vote/src/main.ts', color: 32, env: { PORT: '4001' }, readyUrl: 'http://127.0.0.1:4001/readyz' },
  { name: 'result', entry: 'subgraphs/result/src/main.ts', color: 36, env: { PORT: '4002' }, readyUrl: 'http://127.0.0.1:4002/readyz' },
  {
    name: 'gateway',
    entry: 'gateway/src/main.ts',
    color: 34,
    env: { PORT: env['GATEWAY_PORT'] ?? '4000' },
    readyUrl: `http://127.0.0.1:${env['GATEWAY_PORT'] ?? '4000'}/readyz`,
  },
];

const children = new Map<string, ChildProcess>();
let stopping = false;

function pickDefined(source: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(source).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function prefixLines(name: string, color: number, stream: NodeJS.ReadableStream, target: NodeJS.WritableStream): void {
  const label = `\u001b[${color}m${name.padEnd(7)}\u001b[0m │ `;
  createInterface({ input: stream }).on('line', (line) => target.write(`${label}${line}\n`));
}

function startProcess(spec: ProcessSpec): void {
  const instrument = spec.entry.replace(/main\.ts$/, 'instrument.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', `./${instrument}`, spec.entry], {
    cwd: root,
    env: { ...env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(spec.name, child);
  prefixLines(spec.name, spec.color, child.stdout, process.stdout);
  prefixLines(spec.name, spec.color, child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(spec.name);
    if (stopping) return;
    console.error(`${spec.name} exited (${signal ?? `code ${code}`}); stopping everything`);
    void stopAll(1);
  });
}

async function stopAll(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Stop in reverse start order so the gateway drains before the services behind it.
  for (const spec of [...processes].reverse()) {
    const child = children.get(spec.name);
    if (!child) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const fuse = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(fuse);
  }
  process.exit(exitCode);
}

async function main(): Promise<void> {
  const databaseUrl = env['DATABASE_URL'] ?? '';
  console.log(`applying migrations to ${databaseUrl.replace(/\/\/([^:/@]+):([^@]+)@/, '//$1:***@')}`);
  await applyMigrations({ databaseUrl, migrationsDir: `${root}prisma/migrations` });
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  for (const spec of processes) {
    // Stopped while the previous one was starting: stopAll has already walked past this name, so a
    // child spawned now would be left running on its own (PPID 1) once this process exits.
    if (stopping) return;
    startProcess(spec);
    await waitFor(async () => stopping || (await fetch(spec.readyUrl).catch(() => undefined))?.ok, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `${spec.name} to become ready at ${spec.readyUrl}`,
    });
  }
  if (stopping) return;
  const gateway = processes.at(-1);
  console.log(`\nvotemesh is up: GraphQL (HTTP, WebSocket, SSE) at ${gateway?.readyUrl.replace('/readyz', '/graphql')}`);
  console.log(`get a voter token: curl -X POST ${gateway?.readyUrl.replace('/readyz', '/auth/token')}`);
  console.log(
    `admin token: curl -X POST -H 'content-type: application/json' -d '{"adminSecret":"${env['ADMIN_BOOTSTRAP_SECRET']}"}' ${gateway?.readyUrl.replace('/readyz', '/auth/token')}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  void stopAll(1);
});
