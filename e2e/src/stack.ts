// The whole votemesh system for a scenario: a fresh database, a private Redis prefix, and all five
// processes as real OS processes on free ports, in dependency order. `await using stack = …`
// tears everything down (gateway first) and drops the database.
import { createTestDatabase } from '@votemesh/common/testing/database';
import { deleteRedisPrefix, testRedisPrefix } from '@votemesh/common/testing/redis';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from './child-process.ts';
import { freePort } from '@votemesh/common/testing/free-port';

export const ADMIN_SECRET = 'e2e-admin-secret';
const IDENTITY_SECRET = 'e2e-identity-secret-0123456789abcdef';

export interface StackPorts {
  readonly gateway: number;
  readonly vote: number;
  readonly result: number;
  readonly audit: number;
  readonly auditGrpc: number;
  readonly worker: number;
  readonly workerGrpc: number;
}

export interface Stack extends AsyncDisposable {
  readonly gatewayUrl: string;
  readonly databaseUrl: string;
  readonly redisPrefix: string;
  readonly ports: StackPorts;
  readonly processes: Map<string, ManagedProcess>;
  /** Starts another worker replica (or restarts one) under the given name. */
  startWorker(name: string, extraEnv?: Record<string, string>): Promise<ManagedProcess>;
  /** Restarts a named process on the same ports. */
  restart(name: string): Promise<ManagedProcess>;
}

export interface StackOptions {
  /** Environment for every process (e.g. OTEL_* pointing at a test's OTLP receiver). */
  readonly sharedEnv?: Record<string, string>;
  readonly workerEnv?: Record<string, string>;
  readonly gatewayEnv?: Record<string, string>;
  /** Sees every output line of every process, by process name (log assertions). */
  readonly onOutput?: (process: string, line: string) => void;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const database = await createTestDatabase();
  const redisPrefix = testRedisPrefix();
  const ports: StackPorts = {
    gateway: await freePort(),
    vote: await freePort(),
    result: await freePort(),
    audit: await freePort(),
    auditGrpc: await freePort(),
    worker: await freePort(),
    workerGrpc: await freePort(),
  };
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: redisPrefix,
    IDENTITY_SECRET,
    HOST: '127.0.0.1',
    TALLY_GRPC_URL: `127.0.0.1:${ports.workerGrpc}`,
    AUDIT_GRPC_URL: `127.0.0.1:${ports.auditGrpc}`,
    ...options.sharedEnv,
  };
  const specs: Record<string, { entry: string; env: Record<string, string>; readyUrl: string }> = {
    audit: {
      entry: 'subgraphs/audit/src/main.ts',
      env: { PORT: String(ports.audit), GRPC_PORT: String(ports.auditGrpc) },
      readyUrl: `http://127.0.0.1:${ports.audit}/readyz`,
    },
    worker: {
      entry: 'worker/src/main.ts',
      env: { PORT: String(ports.worker), GRPC_PORT: String(ports.workerGrpc), ...options.workerEnv },
      readyUrl: `http://127.0.0.1:${ports.worker}/readyz`,
    },
    vote: { entry: 'subgraphs/vote/src/main.ts', env: { PORT: String(ports.vote) }, readyUrl: `http://127.0.0.1:${ports.vote}/readyz` },
    result: { entry: 'subgraphs/result/src/main.ts', env: { PORT: String(ports.result) }, readyUrl: `http://127.0.0.1:${ports.result}/readyz` },
    gateway: {
      entry: 'gateway/src/main.ts',
      env: {
        PORT: String(ports.gateway),
        ADMIN_BOOTSTRAP_SECRET: ADMIN_SECRET,
        // Scenarios mint up to a few hundred voters from one address within a minute.
        TOKEN_RATE_LIMIT_PER_MINUTE: '0',
        SUBGRAPH_URL_VOTE: `http://127.0.0.1:${ports.vote}/graphql`,
        SUBGRAPH_URL_RESULT: `http://127.0.0.1:${ports.result}/graphql`,
        SUBGRAPH_URL_AUDIT: `http://127.0.0.1:${ports.audit}/graphql`,
        ...options.gatewayEnv,
      },
      readyUrl: `http://127.0.0.1:${ports.gateway}/readyz`,
    },
  };
  const processes = new Map<string, ManagedProcess>();

  async function launch(name: string, specName: string, extraEnv: Record<string, string> = {}): Promise<ManagedProcess> {
    const spec = specs[specName];
    if (!spec) throw new Error(`unknown process ${specName}`);
    const onOutput = options.onOutput;
    const started = await startProcess({
      name,
      entry: spec.entry,
      env: { ...shared, ...spec.env, ...extraEnv },
      readyUrl: extraEnv['READY_URL'] ?? spec.readyUrl,
      ...(onOutput ? { onLine: (line: string) => onOutput(name, line) } : {}),
    });
    processes.set(name, started);
    return started;
  }

  async function dispose(): Promise<void> {
    for (const name of ['gateway', ...[...processes.keys()].filter((key) => key !== 'gateway').reverse()]) {
      await processes.get(name)?.stop();
    }
    await database[Symbol.asyncDispose]();
    // The processes' keys (vote stream, receipts, rate-limit windows) under this stack's own prefix.
    const redis = new Redis(shared.REDIS_URL);
    try {
      await deleteRedisPrefix(redis, redisPrefix);
    } finally {
      redis.disconnect();
    }
  }

  try {
    for (const name of ['audit', 'worker', 'vote', 'result', 'gateway']) await launch(name, name);
  } catch (error) {
    await dispose();
    throw error;
  }

  return {
    gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
    databaseUrl: database.url,
    redisPrefix,
    ports,
    processes,
    async startWorker(name, extraEnv = {}) {
      // Extra replicas need their own HTTP and gRPC ports; readiness is checked on the new HTTP port.
      const port = await freePort();
      const grpcPort = await freePort();
      return launch(name, 'worker', {
        PORT: String(port),
        GRPC_PORT: String(grpcPort),
        READY_URL: `http://127.0.0.1:${port}/readyz`,
        CONSUMER_NAME: name,
        ...extraEnv,
      });
    },
    async restart(name) {
      await processes.get(name)?.stop();
      return launch(name, name);
    },
    [Symbol.asyncDispose]: dispose,
  };
}
