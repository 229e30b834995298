// A push-to-pull bridge: event handlers push values, a GraphQL subscription pulls them as an
// AsyncIterableIterator. `return()` (the client unsubscribed, the socket closed) runs the cleanup
// once. A consumer that falls more than `maxBuffered` values behind fails instead of growing memory.
export interface AsyncQueue<T> {
  push(value: T): void;
  /** Ends the iteration after the buffered values. */
  end(): void;
  /** Ends the iteration with an error after the buffered values. */
  fail(error: unknown): void;
  readonly iterator: AsyncIterableIterator<T>;
}

export interface AsyncQueueOptions {
  /** Runs once when the iteration ends for any reason. */
  readonly onClose?: () => void;
  /** @default 1000 */
  readonly maxBuffered?: number;
}

type Settled = { readonly done: true; readonly error?: unknown };

export function createAsyncQueue<T>(options: AsyncQueueOptions = {}): AsyncQueue<T> {
  const maxBuffered = options.maxBuffered ?? 1000;
  const buffer: T[] = [];
  const waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void }[] = [];
  let settled: Settled | undefined;
  let closed = false;

  function close(): void {
    if (closed) return;
    closed = true;
    options.onClose?.();
  }

  function settle(state: Settled): void {
    if (settled) return;
    settled = state;
    close();
    if (buffer.length > 0) return;
    for (const waiter of waiting.splice(0)) {
      if (state.error !== undefined) waiter.reject(state.error);
      else waiter.resolve({ done: true, value: undefined });
    }
  }

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (buffer.length > 0) return Promise.resolve({ done: false, value: buffer.shift() as T });
      if (settled) {
        if (settled.error !== undefined) {
          const error = settled.error;
          settled = { done: true };
          return Promise.reject(error);
        }
        return Promise.resolve({ done: true, value: undefined });
      }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      buffer.length = 0;
      settle({ done: true });
      return Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };

  return {
    push(value) {
      if (settled) return;
      const waiter = waiting.shift();
      if (waiter) {
        waiter.resolve({ done: false, value });
        return;
      }
      if (buffer.length >= maxBuffered) {
        settle({ done: true, error: new Error(`subscription consumer fell more than ${maxBuffered} events behind`) });
        return;
      }
      buffer.push(value);
    },
    end: () => settle({ done: true }),
    fail: (error) => settle({ done: true, error }),
    iterator,
  };
}
