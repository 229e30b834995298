// Live fan-out of newly committed audit events to auditEvents subscriptions. Transport-free: a
// subscription is an AsyncIterable; graphql-ws (or anything else) just iterates it.
// Scope: events appended by THIS process. Several audit replicas each see only their own ingest
// streams; see docs/contracts/audit.md for the cross-replica plan.
import type { AuditFilter, StoredEvent } from './store.ts';

export interface AuditFeed {
  publish(events: readonly StoredEvent[]): void;
  subscribe(filter: AuditFilter): AsyncIterableIterator<StoredEvent>;
  readonly subscriberCount: number;
  /** Ends every subscription (clients see the stream complete). */
  close(): void;
}

export interface FeedOptions {
  /** Events one slow subscriber may have waiting before it is cut off. @default 10000 */
  readonly maxQueued?: number;
  readonly onSubscribersChanged?: (count: number) => void;
}

export class FeedOverflowError extends Error {
  constructor(maxQueued: number) {
    super(`auditEvents subscriber fell more than ${maxQueued} events behind and was disconnected`);
    this.name = 'FeedOverflowError';
  }
}

export function matchesFilter(event: StoredEvent, filter: AuditFilter): boolean {
  return (
    (filter.pollId === undefined || event.pollId === filter.pollId) &&
    (filter.action === undefined || event.action === filter.action) &&
    (filter.actor === undefined || event.actor === filter.actor) &&
    (filter.since === undefined || Date.parse(event.at) >= filter.since.getTime())
  );
}

interface Subscriber {
  readonly filter: AuditFilter;
  push(event: StoredEvent): void;
  end(error?: Error): void;
}

export function createAuditFeed(options: FeedOptions = {}): AuditFeed {
  const maxQueued = options.maxQueued ?? 10_000;
  const subscribers = new Set<Subscriber>();
  const changed = (): void => options.onSubscribersChanged?.(subscribers.size);

  function subscribe(filter: AuditFilter): AsyncIterableIterator<StoredEvent> {
    let queue: StoredEvent[] = [];
    let waiter: ((result: IteratorResult<StoredEvent>) => void) | undefined;
    let failWaiter: ((error: Error) => void) | undefined;
    let ended: { error?: Error } | undefined;

    const subscriber: Subscriber = {
      filter,
      push(event) {
        if (ended) return;
        if (waiter) {
          const deliver = waiter;
          waiter = undefined;
          failWaiter = undefined;
          deliver({ value: event, done: false });
        } else if (queue.length >= maxQueued) {
          subscriber.end(new FeedOverflowError(maxQueued));
        } else {
          queue.push(event);
        }
      },
      end(error) {
        if (ended) return;
        ended = error ? { error } : {};
        subscribers.delete(subscriber);
        changed();
        if (error && failWaiter) {
          failWaiter(error);
          ended = {}; // the pending next() reported the error; later calls see a finished stream
        } else {
          waiter?.({ value: undefined, done: true });
        }
        waiter = undefined;
        failWaiter = undefined;
      },
    };
    subscribers.add(subscriber);
    changed();

    const iterator: AsyncIterableIterator<StoredEvent> = {
      next() {
        const head = queue.shift();
        if (head) return Promise.resolve({ value: head, done: false });
        if (ended) {
          const error = ended.error;
          ended = {}; // report an overflow once, then behave as done
          return error ? Promise.reject(error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          waiter = resolve;
          failWaiter = reject;
        });
      },
      return() {
        queue = [];
        subscriber.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  return {
    publish(events) {
      if (subscribers.size === 0) return;
      for (const event of events) {
        for (const subscriber of subscribers) if (matchesFilter(event, subscriber.filter)) subscriber.push(event);
      }
    },
    subscribe,
    get subscriberCount() {
      return subscribers.size;
    },
    close() {
      for (const subscriber of [...subscribers]) subscriber.end();
    },
  };
}
