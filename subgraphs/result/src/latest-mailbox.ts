// One subscriber's inbox: an AsyncIterableIterator that holds at most ONE undelivered state — the
// newest. A slow consumer therefore skips intermediate states instead of building a backlog, and
// states older than (or equal to) what it already holds or received are dropped by version.
import type { Versioned } from './coalescer.ts';

export interface LatestMailbox<T extends Versioned> extends AsyncIterableIterator<T> {
  /** Queues `state` unless stale; returns whether it was taken. */
  deliver(state: T): boolean;
  /** Ends the iteration (consumer sees done) after nothing more; safe to call twice. */
  end(): void;
  readonly closed: boolean;
}

export function createLatestMailbox<T extends Versioned>(onClose: () => void): LatestMailbox<T> {
  let newestVersion = -1;
  let pending: T | undefined;
  let waiter: ((result: IteratorResult<T>) => void) | undefined;
  let closed = false;

  function close(): void {
    if (closed) return;
    closed = true;
    pending = undefined;
    waiter?.({ value: undefined, done: true });
    waiter = undefined;
    onClose();
  }

  const mailbox: LatestMailbox<T> = {
    deliver(state) {
      if (closed || state.version <= newestVersion) return false;
      newestVersion = state.version;
      if (waiter) {
        const resolve = waiter;
        waiter = undefined;
        resolve({ value: state, done: false });
      } else {
        pending = state;
      }
      return true;
    },
    end: close,
    get closed() {
      return closed;
    },
    next() {
      if (pending !== undefined) {
        const value = pending;
        pending = undefined;
        return Promise.resolve({ value, done: false });
      }
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
    return() {
      close();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error?: unknown) {
      close();
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    },
    [Symbol.asyncIterator]() {
      return mailbox;
    },
  };
  return mailbox;
}
