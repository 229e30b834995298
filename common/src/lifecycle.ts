// Shutdown as a stack of disposers: whatever a composition root starts registers its teardown,
// and `shutdown()` runs them last-in-first-out under one timeout fuse. Calling it twice is safe.
// `handleTerminationSignals` is how every main.ts connects SIGTERM/SIGINT to that stack.
import { raceTimeout } from './race-timeout.ts';

export type Disposer = () => void | Promise<void>;

export interface ShutdownLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * How a shutdown ended. `completed`: every step finished. `failed`: every step ran, but those in
 * `failed` threw (each is logged with its error; the steps after it still ran). `timed-out`: the fuse
 * blew while `open` (the step running, then the ones not reached, in the order they would have run)
 * had not finished. Only `completed` is a success: otherwise something (a batch, a socket, a flush)
 * was cut or lost rather than closed, and the process must not exit 0.
 */
export type ShutdownOutcome =
  | { readonly kind: 'completed' }
  | { readonly kind: 'failed'; readonly failed: readonly string[] }
  | { readonly kind: 'timed-out'; readonly open: readonly string[]; readonly failed: readonly string[] };

export interface ShutdownStack {
  defer(name: string, dispose: Disposer): void;
  shutdown(reason: string): Promise<ShutdownOutcome>;
}

export function createShutdownStack(logger: ShutdownLogger, timeoutMs = 10_000): ShutdownStack {
  const disposers: { name: string; dispose: Disposer }[] = [];
  // Steps not finished yet, in run order; the head is the one running.
  let open: string[] = [];
  const failed: string[] = [];
  let running: Promise<ShutdownOutcome> | undefined;

  async function runAll(reason: string): Promise<void> {
    logger.info({ reason }, 'shutting down');
    const steps = disposers.splice(0).reverse();
    open = steps.map((step) => step.name);
    for (const { name, dispose } of steps) {
      try {
        await dispose();
      } catch (error) {
        // The remaining steps still run: a failed flush must not leave the sockets and pools open.
        failed.push(name);
        const message = error instanceof Error ? error.message : String(error);
        logger.error({ err: error, step: name }, `shutdown step "${name}" failed: ${message}`);
      }
      open.shift();
    }
  }

  return {
    defer(name, dispose) {
      if (running) throw new Error(`cannot register "${name}" after shutdown began`);
      disposers.push({ name, dispose });
    },
    shutdown(reason) {
      running ??= withTimeout(runAll(reason), timeoutMs).then((finished): ShutdownOutcome => {
        if (finished && failed.length === 0) return { kind: 'completed' };
        if (finished) {
          logger.error({ failed: [...failed] }, `shutdown finished with ${failed.join(', ')} failed`);
          return { kind: 'failed', failed: [...failed] };
        }
        const stillOpen = [...open];
        logger.error({ timeoutMs, open: stillOpen, failed: [...failed] }, `shutdown timed out with ${stillOpen.join(', ')} still open`);
        return { kind: 'timed-out', open: stillOpen, failed: [...failed] };
      });
      return running;
    },
  };
}

/**
 * Resolves true when `work` settles within `timeoutMs`, false when the fuse blows first. The fuse
 * timer is kept ref'd (`keepAlive`), on purpose: it is what keeps the process alive while a step
 * waits on something that holds no handle of its own (a promise settled by an unref'd socket or
 * timer, a client that unrefs its connection). Unref'd, Node would find nothing left to run and
 * exit 0 in the middle of the drain; held, the process lives until the drain ends or the fuse blows.
 */
async function withTimeout(work: Promise<void>, timeoutMs: number): Promise<boolean> {
  return (await raceTimeout(work, timeoutMs, { keepAlive: true })).kind === 'settled';
}

/** What handleTerminationSignals needs of `process` (passed in: only main.ts touches it). */
export interface SignalTarget {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exit(code: number): never | void;
}

/** Exit code of a shutdown cut short by a second SIGINT: 128 + SIGINT, what a shell reports. */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * SIGTERM or SIGINT starts the graceful shutdown; the process exits 0 when it completed and 1 when
 * a step failed or the fuse blew (ShutdownOutcome). Another SIGTERM while it drains is logged and ignored: Kubernetes
 * and process managers may send it again, and the drain (finishing and acknowledging a batch,
 * closing sockets with going-away) is what the first one asked for; the fuse still bounds it. A
 * second SIGINT is a person pressing Ctrl-C again: they get their terminal back at once, with a
 * log line saying the shutdown was cut.
 */
export function handleTerminationSignals(target: SignalTarget, stack: ShutdownStack, logger: ShutdownLogger): void {
  let first: 'SIGTERM' | 'SIGINT' | undefined;
  const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    if (first === undefined) {
      first = signal;
      void stack.shutdown(signal).then((outcome) => target.exit(outcome.kind === 'completed' ? 0 : 1));
      return;
    }
    if (signal === 'SIGINT') {
      logger.warn({ signal, first }, 'second SIGINT: exiting now without finishing the shutdown');
      target.exit(INTERRUPTED_EXIT_CODE);
      return;
    }
    logger.warn({ signal, first }, 'SIGTERM during shutdown ignored: the graceful drain continues until done or the shutdown timeout');
  };
  target.on('SIGTERM', () => onSignal('SIGTERM'));
  target.on('SIGINT', () => onSignal('SIGINT'));
}
