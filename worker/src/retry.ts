// Retries a PostgreSQL transaction that lost a deadlock or serialization race. Both are normal
// under concurrent replicas: the transaction rolled back entirely, so running it again is safe.
import { setTimeout as delay } from 'node:timers/promises';

const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);
/** Prisma's own code for "transaction failed due to a write conflict or a deadlock". */
const PRISMA_WRITE_CONFLICT = 'P2034';

export interface RetryOptions {
  /** Attempts in total, the first included. @default 5 */
  readonly attempts?: number;
  /** First backoff; doubles per attempt, with full jitter. @default 20 */
  readonly baseDelayMs?: number;
  readonly onRetry?: (attempt: number, sqlState: string, error: unknown) => void;
}

export async function withTransactionRetry<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 20;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const state = retryableState(error);
      if (state === undefined || attempt >= attempts) throw error;
      options.onRetry?.(attempt, state, error);
      await delay(Math.random() * base * 2 ** (attempt - 1));
    }
  }
}

/** The SQLSTATE (or Prisma code) that makes `error` worth retrying, wherever the driver put it. */
export function retryableState(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const stack: unknown[] = [error];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const record = current as Record<string, unknown>;
    for (const field of ['code', 'originalCode']) {
      const code = record[field];
      if (typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || code === PRISMA_WRITE_CONFLICT)) return code;
    }
    stack.push(record['cause'], record['meta'], record['driverAdapterError']);
  }
  return undefined;
}
