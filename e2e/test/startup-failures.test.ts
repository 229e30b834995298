// Every process that cannot start says why in one line and exits 1, the way an operator reads it
// in `kubectl logs` of a crash-looping pod: the variable and what is wrong, never a stack trace
// (a stack is kept for unexpected errors only). Each process runs as the container runs it, with
// its instrument.ts loaded first, so OTEL_* refusals are covered too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createTestDatabase } from '@votemesh/common/testing/database';
import { freePort } from '@votemesh/common/testing/free-port';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A user and group id for the process, as `spawn` takes them: {} for the test's own. */
type RunAs = { uid?: number; gid?: number };

async function startAndFail(entry: string, env: Record<string, string>, runAs: RunAs = {}): Promise<{ code: number | null; lines: string[] }> {
  const instrument = entry.replace(/main\.ts$/, 'instrument.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', `./${instrument}`, entry], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', LOG_FORMAT: 'json', PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...runAs,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // A process that started after all would hang here: the test timeout then names the case.
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, lines: output.split('\n').filter((line) => line.trim() !== '') };
}

/** The text of a line: a JSON log line's `msg`, or the line itself. */
function text(line: string): string {
  try {
    const record = JSON.parse(line) as { msg?: unknown };
    return String(record.msg);
  } catch {
    return line;
  }
}

const closedRedis = `redis://127.0.0.1:${await freePort()}`;

const cases: { name: string; entry: string; env: Record<string, string>; says: RegExp; runAs?: RunAs; skip?: string | false }[] = [
  {
    name: 'result: a bad number',
    entry: 'subgraphs/result/src/main.ts',
    env: { COALESCE_MS: 'soon' },
    says: /^Invalid configuration: COALESCE_MS must be a whole number, got "soon" \(allowed: 0 to 60000\)$/,
  },
  {
    name: 'worker: a number out of range',
    entry: 'worker/src/main.ts',
    env: { RECEIPT_TTL_SECONDS: '100000000000000000000' },
    says: /^Invalid configuration: RECEIPT_TTL_SECONDS must be at most 31536000, got 100000000000000000000 \(allowed: 60 to 31536000\)$/,
  },
  {
    name: 'gateway: a shutdown fuse below its minimum',
    entry: 'gateway/src/main.ts',
    env: { SHUTDOWN_TIMEOUT_MS: '10' },
    says: /^Invalid configuration: SHUTDOWN_TIMEOUT_MS must be at least 100, got 10 \(allowed: 100 to 86400000\)$/,
  },
  {
    name: 'worker: a shutdown fuse the gRPC grace uses up',
    entry: 'worker/src/main.ts',
    env: { GRPC_SHUTDOWN_MS: '30000' },
    says: /^Invalid configuration: SHUTDOWN_TIMEOUT_MS must be more than SHUTDOWN_DRAIN_MS \+ GRPC_SHUTDOWN_MS \+ BLOCK_MS \+ the audit client's close \(0 \+ 30000 \+ 1000 \+ 2000 = 33000\)/,
  },
  {
    name: 'worker: a sampler typo while not exporting',
    entry: 'worker/src/main.ts',
    env: { OTEL_TRACES_SAMPLER: 'sometimes' },
    says: /^Invalid configuration: OTEL_TRACES_SAMPLER must be one of .*got "sometimes"$/,
  },
  {
    name: 'result: a sampler argument typo with the SDK disabled',
    entry: 'subgraphs/result/src/main.ts',
    env: { OTEL_SDK_DISABLED: 'true', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0,1' },
    says: /^Invalid configuration: OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "0,1"$/,
  },
  {
    name: 'vote: malformed OTLP headers',
    entry: 'subgraphs/vote/src/main.ts',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=votemesh,Bearer abc' },
    says: /^Invalid configuration: OTEL_EXPORTER_OTLP_HEADERS must be comma-separated name=value pairs .*pair 2 has no "="$/,
  },
  {
    name: 'audit: a number out of range',
    entry: 'subgraphs/audit/src/main.ts',
    env: { DATABASE_POOL_MAX: '1e20' },
    says: /^Invalid configuration: DATABASE_POOL_MAX must be a whole number, got "1e20" \(allowed: 2 to 200\)$/,
  },
  {
    name: 'gateway: a SUBGRAPH_URL_<NAME> the supergraph does not have',
    entry: 'gateway/src/main.ts',
    env: { RATE_LIMIT_PER_MINUTE: '0', SUBGRAPH_URL_VOTES: 'http://127.0.0.1:9/graphql' },
    says: /^gateway failed to start: Invalid configuration: SUBGRAPH_URL_VOTES names no subgraph of the supergraph \(SUPERGRAPH_PATH\); its subgraphs are .*vote \(SUBGRAPH_URL_VOTE\)/,
  },
  {
    name: 'worker: Redis does not answer',
    entry: 'worker/src/main.ts',
    env: { REDIS_URL: closedRedis },
    says: new RegExp(`^worker failed to start: Cannot start: REDIS_URL ${closedRedis} does not answer \\(connect ECONNREFUSED`),
  },
  {
    name: 'vote: Redis does not answer',
    entry: 'subgraphs/vote/src/main.ts',
    env: { REDIS_URL: closedRedis },
    says: new RegExp(`^vote subgraph failed to start: Cannot start: REDIS_URL ${closedRedis} does not answer`),
  },
];

// A port another process holds, for every HTTP and gRPC listener in turn. The processes get far
// enough to bind (a real database and Redis under a prefix of their own), and each names the setting
// that chose the port instead of printing EADDRINUSE with a stack.
const taken = createServer();
const takenPort = await new Promise<number>((resolve, reject) => {
  taken.once('error', reject);
  void freePort().then((port) => taken.listen(port, '127.0.0.1', () => resolve(port)));
});
const database = await createTestDatabase();
after(async () => {
  taken.close();
  await database[Symbol.asyncDispose]();
});
const reachable = { DATABASE_URL: database.url, REDIS_PREFIX: `startup-failures-${process.pid}:`, RATE_LIMIT_PER_MINUTE: '0' };
const inUse = (variable: string) => new RegExp(`failed to start: ${variable}=${takenPort}: address 127\\.0\\.0\\.1:${takenPort} already in use$`);
const listeners: { process: string; entry: string; variable: 'PORT' | 'GRPC_PORT' }[] = [
  { process: 'gateway', entry: 'gateway/src/main.ts', variable: 'PORT' },
  { process: 'vote', entry: 'subgraphs/vote/src/main.ts', variable: 'PORT' },
  { process: 'result', entry: 'subgraphs/result/src/main.ts', variable: 'PORT' },
  { process: 'audit', entry: 'subgraphs/audit/src/main.ts', variable: 'PORT' },
  { process: 'audit', entry: 'subgraphs/audit/src/main.ts', variable: 'GRPC_PORT' },
  { process: 'worker', entry: 'worker/src/main.ts', variable: 'PORT' },
  { process: 'worker', entry: 'worker/src/main.ts', variable: 'GRPC_PORT' },
];
for (const listener of listeners) {
  cases.push({
    name: `${listener.process}: ${listener.variable} already in use`,
    entry: listener.entry,
    env: { ...reachable, [listener.variable]: String(takenPort) },
    says: inUse(listener.variable),
  });
}

// A HOST that is not an address of this machine (TEST-NET-1, RFC 5737, is nobody's): the first
// listener to bind says so, naming HOST and its port setting (audit and worker bind gRPC first).
const NOT_LOCAL = '192.0.2.1';
const notLocal = (variable: string) =>
  new RegExp(`failed to start: HOST=192\\.0\\.2\\.1: cannot listen on 192\\.0\\.2\\.1:0 \\(${variable}=0\\): not an address of this machine$`);
for (const listener of [
  { process: 'gateway', entry: 'gateway/src/main.ts', variable: 'PORT' },
  { process: 'audit', entry: 'subgraphs/audit/src/main.ts', variable: 'GRPC_PORT' },
  { process: 'worker', entry: 'worker/src/main.ts', variable: 'GRPC_PORT' },
]) {
  cases.push({
    name: `${listener.process}: HOST not of this machine`,
    entry: listener.entry,
    env: { ...reachable, HOST: NOT_LOCAL },
    says: notLocal(listener.variable),
  });
}

// A privileged port (EACCES) for a process without root, as a container runs it. Run as root (which
// may bind any port), the process is started as nobody (65534); where even that may bind port 80
// (net.ipv4.ip_unprivileged_port_start lowered, CAP_NET_BIND_SERVICE), these cases are skipped.
const PRIVILEGED_PORT = 80;
const unprivileged: RunAs = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
const privilegedPortRefused = await new Promise<string | false>((resolve) => {
  const probe = spawn(
    process.execPath,
    [
      '-e',
      `require('node:net').createServer().once('error', (e) => { console.log(e.code); process.exit(); }).listen(${PRIVILEGED_PORT}, '127.0.0.1', () => process.exit())`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'], ...unprivileged },
  );
  let said = '';
  probe.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  probe.once('exit', () =>
    resolve(said.trim() === 'EACCES' ? false : `an unprivileged process may bind port ${PRIVILEGED_PORT} here (${said.trim() || 'it bound'})`),
  );
});
const privileged = (variable: string) =>
  new RegExp(
    `failed to start: ${variable}=${PRIVILEGED_PORT}: permission denied listening on 127\\.0\\.0\\.1:${PRIVILEGED_PORT} \\(a port below 1024 needs root or CAP_NET_BIND_SERVICE\\)$`,
  );
for (const listener of [
  { process: 'vote', entry: 'subgraphs/vote/src/main.ts', variable: 'PORT' },
  { process: 'worker', entry: 'worker/src/main.ts', variable: 'GRPC_PORT' },
]) {
  cases.push({
    name: `${listener.process}: ${listener.variable} privileged`,
    entry: listener.entry,
    env: { ...reachable, [listener.variable]: String(PRIVILEGED_PORT) },
    says: privileged(listener.variable),
    runAs: unprivileged,
    skip: privilegedPortRefused,
  });
}

describe('a process that cannot start', () => {
  for (const { name, entry, env, says, runAs, skip } of cases) {
    it(`${name}: exits 1 with one line naming the variable, no stack trace`, { skip: skip ?? false }, async () => {
      const { code, lines } = await startAndFail(entry, env, runAs);
      assert.equal(code, 1, lines.join('\n'));
      assert.ok(
        lines.some((line) => says.test(text(line))),
        `expected a line matching ${says}; got:\n${lines.join('\n')}`,
      );
      assert.ok(!lines.some((line) => /\n?\s+at .+:\d+:\d+/.test(line) || line.includes('"stack"')), `no stack trace; got:\n${lines.join('\n')}`);
    });
  }
});
