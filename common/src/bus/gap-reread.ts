// After a bus gap a live subscription (or stream) re-reads its state from the store, since whatever was
// announced while the bus was away never arrives. That read can fail too (PostgreSQL restarting,
// Redis away a moment longer than the bus): dropping it would leave the client on its last state
// until the next message, which for a poll that closed during the gap never comes. So a failed
// re-read is tried again, with a doubling delay, until one succeeds or the subscription ends.

export interface GapRereadOptions<T> {
  /** Reads the current state (the store, not the bus). */
  readonly read: () => Promise<T>;
  /** Takes a successful read; called only while the re-reader runs. */
  readonly apply: (state: T) => void;
  /** A read failed; `retryInMs` is when the next one starts. */
  readonly onError: (error: unknown, retryInMs: number) => void;
  /** @default 100 */
  readonly initialDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
}

export interface GapReread {
  /** A gap happened: read now, or once more after a read already in flight (it may predate the gap). */
  trigger(): void;
  /** The subscription ended: no more reads, and a read in flight is not applied. */
  stop(): void;
}

export function createGapReread<T>(options: GapRereadOptions<T>): GapReread {
  const initialDelayMs = options.initialDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  let stopped = false;
  let inFlight = false;
  let again = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;

  function run(): void {
    timer = undefined;
    inFlight = true;
    options.read().then(
      (state) => {
        inFlight = false;
        failures = 0;
        if (stopped) return;
        options.apply(state);
        if (again) start();
      },
      (error: unknown) => {
        inFlight = false;
        if (stopped) return;
        failures += 1;
        const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(failures - 1, 20));
        // Jitter: every subscription of a replica saw the same gap; their retries should not land together.
        const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        options.onError(error, delayMs);
        again = false; // the retry below reads after every gap so far
        timer = setTimeout(run, delayMs);
        timer.unref();
      },
    );
  }

  function start(): void {
    again = false;
    if (timer) clearTimeout(timer);
    run();
  }

  return {
    trigger() {
      if (stopped) return;
      if (inFlight) again = true;
      else start();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
