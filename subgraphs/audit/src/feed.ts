// Live fan-out of committed audit events to auditEvents subscriptions. Transport-free: a
// subscription is an AsyncIterable; graphql-ws (or anything else) just iterates it.
//
// Events reach the feed ONLY from its source (the event bus, feed-bus.ts), the events this replica
// appended itself included. We chose one path over "deliver locally at once, and dedupe the bus
// copy by seq": the bus interleaves several replicas' seqs, so a highest-seq-seen check would drop
// real events and an exact dedupe would need an ever-growing set; with one path every subscriber on
// every replica sees the same sequence and the feed keeps no dedupe state. The cost is one Redis
// round trip of latency for local events, and no live feed while Redis is away (the log is intact).
//
// The source subscription is held only while someone subscribes: with no admin watching, a replica
// does not parse the events every other replica publishes.
import type { Unsubscribe } from '@votemesh/common/bus/event-bus';
import { VotemeshError } from '@votemesh/common/errors';
import type { AuditFilter, StoredEvent } from './store.ts';

/** Where committed events come from: every replica's commits, each replica's in seq order. */
export interface FeedSource {
  /** Calls `deliver` for every batch from now on; resolves once delivery is guaranteed. */
  subscribe(deliver: (events: readonly StoredEvent[]) => void): Promise<Unsubscribe>;
  /** Calls `listener` after batches may have been lost (EventBus.onGap); absent: never. */
  onGap?(listener: () => void): Unsubscribe;
}

export interface AuditFeed {
  /**
   * Resolves once every event committed from now on (by any replica) reaches the subscription;
   * rejects with UPSTREAM_UNAVAILABLE when the source cannot be subscribed.
   */
  subscribe(filter: AuditFilter): Promise<AsyncIterableIterator<StoredEvent>>;
  readonly subscriberCount: number;
  /** Ends every subscription (clients see the stream complete) and releases the source. */
  close(): void;
}

export interface FeedOptions {
  readonly source: FeedSource;
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

/**
 * The feed keeps no position to catch up from (see the top of this file), so after a gap in its
 * source every live subscription ends with this error instead of silently missing events: the
 * client reads what it missed with auditLog and subscribes again.
 */
export function feedGapError(): VotemeshError {
  return new VotemeshError(
    'UPSTREAM_UNAVAILABLE',
    'The live audit feed lost its event bus connection and events appended meanwhile were not delivered; read them with auditLog and subscribe again',
  );
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

export function createAuditFeed(options: FeedOptions): AuditFeed {
  const maxQueued = options.maxQueued ?? 10_000;
  const subscribers = new Set<Subscriber>();
  let source: Promise<Unsubscribe> | undefined;
  /** subscribe() calls still waiting for the source: they keep it held. */
  let joining = 0;
  let closed = false;
  const stopGapWatch = options.source.onGap?.(() => {
    for (const subscriber of [...subscribers]) subscriber.end(feedGapError());
  });

  function changed(): void {
    options.onSubscribersChanged?.(subscribers.size);
    releaseSourceIfIdle();
  }

  function deliver(events: readonly StoredEvent[]): void {
    for (const event of events) {
      for (const subscriber of subscribers) if (matchesFilter(event, subscriber.filter)) subscriber.push(event);
    }
  }

  function acquireSource(): Promise<Unsubscribe> {
    if (source) return source;
    // Only the current acquisition delivers: one being released may still receive a message, and
    // it must not reach subscribers a second time through the new one.
    const attempt: Promise<Unsubscribe> = options.source.subscribe((events) => {
      if (source === attempt) deliver(events);
    });
    source = attempt;
    attempt.catch(() => {
      if (source === attempt) source = undefined;
    });
    return attempt;
  }

  function releaseSourceIfIdle(): void {
    if (subscribers.size > 0 || joining > 0 || source === undefined) return;
    const held = source;
    source = undefined;
    held.then(
      (stop) => stop(),
      () => undefined,
    );
  }

  async function subscribe(filter: AuditFilter): Promise<AsyncIterableIterator<StoredEvent>> {
    if (closed) throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'the audit subgraph is shutting down');
    joining += 1;
    try {
      await acquireSource();
    } catch (error) {
      throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'the live audit feed cannot reach the event bus; retry later', { cause: error });
    } finally {
      joining -= 1;
    }
    if (closed) {
      releaseSourceIfIdle();
      throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'the audit subgraph is shutting down');
    }
    return register(filter);
  }

  function register(filter: AuditFilter): AsyncIterableIterator<StoredEvent> {
    let queue: StoredEvent[] = [];
    let waiter: ((result: IteratorResult<StoredEvent>) => void) | undefined;
    let failWaiter: ((error: Error) => void) | undefined;
    let ended: { error?: Error } | undefined;

    const subscriber: Subscriber = {
      filter,
      push(event) {
        if (ended) return;
        if (waiter) {
          const resolve = waiter;
          waiter = undefined;
          failWaiter = undefined;
          resolve({ value: event, done: false });
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
    subscribe,
    get subscriberCount() {
      return subscribers.size;
    },
    close() {
      closed = true;
      stopGapWatch?.();
      for (const subscriber of [...subscribers]) subscriber.end();
      releaseSourceIfIdle();
    },
  };
}
