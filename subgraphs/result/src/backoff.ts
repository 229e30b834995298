// Exponential backoff with "equal jitter": attempt n waits between half and all of
// min(maxMs, initialMs × 2^n), so replicas that lost the same worker do not reconnect in lockstep,
// and no wait is ever shorter than half the nominal delay.

export interface BackoffOptions {
  /** Nominal delay of the first retry. @default 100 */
  readonly initialMs?: number;
  /** Upper bound of the nominal delay. @default 5000 */
  readonly maxMs?: number;
  /** Source of randomness in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 5000;
  const random = options.random ?? Math.random;
  const nominal = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
