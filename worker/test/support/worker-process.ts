// Runs the worker as a separate OS process (`node --import tsx worker/src/main.ts`), so e2e tests
// can SIGKILL it mid-batch or SIGTERM it and watch it drain. The child binds PORT=0/GRPC_PORT=0 by
// default; its `listening` log line (JSON) tells us the addresses it got.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface WorkerProcess extends AsyncDisposable {
  readonly pid: number;
  /** http://host:port of /healthz, /readyz, /metrics. */
  readonly url: string;
  /** host:port of TallyService. */
  readonly grpcAddress: string;
  readonly consumerName: string;
  /** Every parsed JSON log line so far (non-JSON lines are kept as `{ msg: line }`). */
  readonly logs: Record<string, unknown>[];
  /** Everything written to stderr so far. */
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnWorkerOptions {
  /** Environment for the worker on top of PATH/HOME (DATABASE_URL, REDIS_PREFIX, CONSUMER_NAME, …). */
  readonly env: Readonly<Record<string, string>>;
  /** How long to wait for the `listening` line. @default 20000 */
  readonly startTimeoutMs?: number;
}

export async function spawnWorker(options: SpawnWorkerOptions): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));

  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker did not log "listening" within ${options.startTimeoutMs ?? 20_000} ms; stderr: ${stderr.join('')}`)),
      options.startTimeoutMs ?? 20_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        record = { msg: line };
      }
      logs.push(record);
      if (record['msg'] === 'listening') {
        clearTimeout(timer);
        resolve(record);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      const said = logs.map((record) => String(record['msg'])).join(' | ');
      reject(new Error(`worker exited (code ${code}, signal ${signal}) before listening; logged: ${said}; stderr: ${stderr.join('')}`));
    });
  });
  let line: Record<string, unknown>;
  try {
    line = await listening;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    pid: child.pid ?? -1,
    url: String(line['url']),
    grpcAddress: String(line['grpcAddress']),
    consumerName: String(line['consumer']),
    logs,
    stderr: () => stderr.join(''),
    exited,
    kill,
    async [Symbol.asyncDispose]() {
      await kill('SIGKILL');
    },
  };
}
