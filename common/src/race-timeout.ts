// Bounds a wait: the work's value, or `timed-out` when the deadline passes first. The timer is
// cleared as soon as the race is decided (a settled wait leaves nothing pending behind it), and
// unref'd unless asked otherwise: it only bounds a wait, so it must not be what keeps a process
// alive (lifecycle.ts's shutdown fuse is the exception, and says why).
//
// The work itself is not stopped at the deadline: whoever races it decides what to do about it
// (count a check as failed, report a gauge as unknown, terminate the sockets).

export type RaceOutcome<T> = { readonly kind: 'settled'; readonly value: T } | { readonly kind: 'timed-out' };

export interface RaceTimeoutOptions {
  /** Keep the process alive while the timer runs (the timer is ref'd). @default false */
  readonly keepAlive?: boolean;
}

/** `work`'s value, or `timed-out` after `timeoutMs`; rejects when `work` rejects first. */
export async function raceTimeout<T>(work: Promise<T>, timeoutMs: number, options: RaceTimeoutOptions = {}): Promise<RaceOutcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RaceOutcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timed-out' }), timeoutMs);
    if (options.keepAlive !== true) timer.unref();
  });
  try {
    return await Promise.race([work.then((value): RaceOutcome<T> => ({ kind: 'settled', value })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
