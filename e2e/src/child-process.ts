// Runs one votemesh process as a real OS process (the way `npm start` and Kubernetes run it), keeps
// its recent output for failure messages, and stops it with SIGTERM — or SIGKILL, for crash tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@votemesh/common/testing/wait-for';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface ManagedProcess {
  readonly name: string;
  readonly output: readonly string[];
  readonly exited: Promise<number | null>;
  isRunning(): boolean;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface ProcessOptions {
  readonly name: string;
  /** Path of the process's main.ts relative to the repository root. */
  readonly entry: string;
  readonly env: Record<string, string>;
  /** URL polled until it answers 200. */
  readonly readyUrl: string;
  readonly readyTimeoutMs?: number;
  /** Sees every stdout/stderr line (the `output` buffer keeps only the last 200). */
  readonly onLine?: (line: string) => void;
}

/**
 * Children still running. A test or benchmark process that dies without disposing its stack (an
 * uncaught exception, process.exit) would otherwise leave five services running with PPID 1,
 * holding ports and polling Redis: 'exit' still fires then, and kill() is synchronous.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startProcess(options: ProcessOptions): Promise<ManagedProcess> {
  const output: string[] = [];
  // Telemetry loads before application code, exactly as `npm start` and the container images run it.
  const instrument = options.entry.replace(/main\.ts$/, 'instrument.ts');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', '--import', `./${instrument}`, options.entry], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const remember = (line: string): void => {
    options.onLine?.(line);
    output.push(line);
    if (output.length > 200) output.shift();
    if (process.env['E2E_VERBOSE']) console.error(`[${options.name}] ${line}`);
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', remember);
  if (child.stderr) createInterface({ input: child.stderr }).on('line', remember);
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      live.delete(child);
      resolve(code);
    }),
  );

  const managed: ManagedProcess = {
    name: options.name,
    output,
    exited,
    isRunning: () => running,
    async stop() {
      if (!running) return;
      child.kill('SIGTERM');
      const fuse = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(fuse);
    },
    async kill() {
      if (!running) return;
      child.kill('SIGKILL');
      await exited;
    },
  };

  try {
    // A process that exited ends the wait at once (a thrown probe error would only be retried until
    // the deadline); its output below says why.
    const outcome = await waitFor(
      async () => {
        if (!running) return 'exited';
        const response = await fetch(options.readyUrl).catch(() => undefined);
        return response?.ok === true && 'ready';
      },
      { timeoutMs: options.readyTimeoutMs ?? 45_000, intervalMs: 100, what: `${options.name} ready at ${options.readyUrl}` },
    );
    if (outcome === 'exited') throw new Error(`${options.name} exited before it was ready (exit code ${await exited})`);
  } catch (error) {
    await managed.kill();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- ${options.name} output ---\n${output.slice(-40).join('\n')}`);
  }
  return managed;
}
