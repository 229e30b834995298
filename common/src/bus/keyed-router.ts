// Routes bus messages to handlers keyed by a field (a receipt id, a poll id). With thousands of
// subscriptions in a process, each value reaches only the handlers of its key: one map lookup
// instead of every handler filtering every message. A router reads one or more message types
// (its sources); a source cuts each message into (key, value) pairs, so one message may carry the
// values of many keys (`receipts`: every receipt a worker batch changed). The router holds ONE bus
// subscription per source, taken on first use and dropped on `close()`.
import type { BusMessageType } from '../contracts/bus.ts';
import { dispatchToHandlers, type BusHandler, type BusLogger, type BusMessageOf, type EventBus, type Unsubscribe } from './event-bus.ts';

export interface KeyedRouter<V> {
  /** Like `EventBus.subscribe`, but only for the values whose key equals `key`. */
  subscribe(key: string, handler: (value: V) => void): Promise<Unsubscribe>;
  /** The bus's `onGap`: values published while the bus was disconnected never arrive. */
  onGap(listener: () => void): Unsubscribe;
  /** How many keys have handlers; for metrics and tests. */
  readonly size: number;
  close(): void;
}

/** Where a router's values come from: the messages of one type, each cut into (key, value) pairs. */
export interface KeyedSource<V> {
  readonly type: BusMessageType;
  /** Subscribes to the bus; `route` gets every (key, value) each message of `type` carries. */
  listen(bus: EventBus, route: (key: string, value: V) => void): Promise<Unsubscribe>;
}

/** Each message of `type` is one value, under the key `keyOf` reads from it. */
export function keyedMessages<T extends BusMessageType>(type: T, keyOf: (message: BusMessageOf<T>) => string): KeyedSource<BusMessageOf<T>> {
  return keyedItems(type, (message, route) => route(keyOf(message), message));
}

/** Each message of `type` carries any number of values; `split` routes each under its key. */
export function keyedItems<T extends BusMessageType, V>(
  type: T,
  split: (message: BusMessageOf<T>, route: (key: string, value: V) => void) => void,
): KeyedSource<V> {
  return {
    type,
    listen: (bus, route) => {
      const handler: BusHandler<T> = (message) => split(message, route);
      return bus.subscribe(type, handler);
    },
  };
}

export function createKeyedRouter<V>(bus: EventBus, sources: readonly KeyedSource<V>[], logger: BusLogger): KeyedRouter<V> {
  const byKey = new Map<string, Set<(value: V) => void>>();
  let busSubscription: Promise<Unsubscribe> | undefined;
  let closed = false;

  function route(key: string, value: V): void {
    const handlers = byKey.get(key);
    // A throwing handler starves neither the others nor the other keys of the same message.
    if (handlers) dispatchToHandlers(handlers, value, logger, { key });
  }

  async function subscribeSources(): Promise<Unsubscribe> {
    const results = await Promise.allSettled(sources.map((source) => source.listen(bus, route)));
    const stops = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      for (const stop of stops) stop();
      throw result.reason;
    }
    return () => {
      for (const stop of stops) stop();
    };
  }

  function ensureSubscribed(): Promise<Unsubscribe> {
    busSubscription ??= subscribeSources().catch((error: unknown) => {
      busSubscription = undefined;
      throw error;
    });
    return busSubscription;
  }

  return {
    async subscribe(key, handler) {
      if (closed) throw new Error('router is closed');
      let handlers = byKey.get(key);
      if (!handlers) {
        handlers = new Set();
        byKey.set(key, handlers);
      }
      const own = handlers;
      own.add(handler);
      let active = true;
      const unsubscribe = (): void => {
        if (!active) return;
        active = false;
        own.delete(handler);
        if (own.size === 0 && byKey.get(key) === own) byKey.delete(key);
      };
      try {
        await ensureSubscribed();
      } catch (error) {
        unsubscribe();
        throw error;
      }
      return unsubscribe;
    },
    onGap: (listener) => bus.onGap(listener),
    get size() {
      return byKey.size;
    },
    close() {
      closed = true;
      byKey.clear();
      busSubscription?.then((unsubscribe) => unsubscribe()).catch(() => undefined);
      busSubscription = undefined;
    },
  };
}
