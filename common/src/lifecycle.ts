// Shutdown as a stack of disposers: whatever a composition root starts registers its teardown,
// and `shutdown()` runs them last-in-first-out under one timeout fuse. Calling it twice is safe.

export type Disposer = () => void | Promise<void>;

export interface ShutdownLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ShutdownStack {
  defer(name: string, dispose: Disposer): void;
  shutdown(reason: string): Promise<void>;
}

export function createShutdownStack(logger: ShutdownLogger, timeoutMs = 10_000): ShutdownStack {
  const disposers: { name: string; dispose: Disposer }[] = [];
  let running: Promise<void> | undefined;

  async function runAll(reason: string): Promise<void> {
    logger.info({ reason }, 'shutting down');
    for (const { name, dispose } of disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (error) {
        logger.error({ err: error, step: name }, 'shutdown step failed');
      }
    }
  }

  return {
    defer(name, dispose) {
      if (running) throw new Error(`cannot register "${name}" after shutdown began`);
      disposers.push({ name, dispose });
    },
    shutdown(reason) {
      running ??= withTimeout(runAll(reason), timeoutMs, () => logger.error({ timeoutMs }, 'shutdown timed out'));
      return running;
    },
  };
}

async function withTimeout(work: Promise<void>, timeoutMs: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const fuse = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([work, fuse]);
  } finally {
    clearTimeout(timer);
  }
}
