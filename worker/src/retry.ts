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

export interface DatabaseError {
  /** The SQLSTATE PostgreSQL answered. */
  readonly sqlState: string;
  /** PostgreSQL's own message (and detail, when there is one), without the client's wrapping. */
  readonly message: string;
}

/** The PostgreSQL error inside `error` (a Prisma error wraps the driver's), or undefined. */
export function databaseErrorOf(error: unknown): DatabaseError | undefined {
  const seen = new Set<unknown>();
  const stack: unknown[] = [error];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const record = current as Record<string, unknown>;
    const code = record['originalCode'];
    if (typeof code === 'string' && SQLSTATE.test(code)) {
      const text = record['originalMessage'] ?? record['message'];
      const detail = record['detail'];
      const message = typeof text === 'string' ? text : `SQLSTATE ${code}`;
      return { sqlState: code, message: typeof detail === 'string' && detail.length > 0 ? `${message} (${detail})` : message };
    }
    stack.push(record['cause'], record['meta'], record['driverAdapterError']);
  }
  return undefined;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
/**
 * SQLSTATE classes that say the DATA was refused: 22 data exception (a value out of range, an
 * untranslatable character, …) and 23 integrity constraint violation. Running the same rows again
 * fails the same way, so the batch must be split to find the rows. Every other class is left to
 * the retry loop: 40 (rollbacks) and 08/53/57/58 (connection, resources, shutdown) pass, and 42
 * (a missing table, a bad statement) is a bug or a migration in progress, never the votes' fault.
 */
const DATA_ERROR_CLASSES = new Set(['22', '23']);

/** True when PostgreSQL refused the data itself (see DATA_ERROR_CLASSES): retrying cannot help. */
export function isDataError(error: unknown): boolean {
  const found = databaseErrorOf(error);
  return found !== undefined && DATA_ERROR_CLASSES.has(found.sqlState.slice(0, 2));
}
