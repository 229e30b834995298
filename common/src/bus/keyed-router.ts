// Routes one bus message type to handlers keyed by a field (a receipt id, a poll id). With
// thousands of subscriptions in a process, each message reaches only the handlers of its key:
// one map lookup instead of every handler filtering every message. The router holds ONE bus
// subscription for its type, taken on first use and dropped on `close()`.
import type { BusMessageType } from '../contracts/bus.ts';
import { dispatchToHandlers, type BusHandler, type BusLogger, type BusMessageOf, type EventBus, type Unsubscribe } from './event-bus.ts';

export interface KeyedRouter<T extends BusMessageType> {
  /** Like `EventBus.subscribe`, but only for messages whose key equals `key`. */
  subscribe(key: string, handler: BusHandler<T>): Promise<Unsubscribe>;
  /** How many keys have handlers; for metrics and tests. */
  readonly size: number;
  close(): void;
}

export function createKeyedRouter<T extends BusMessageType>(
  bus: EventBus,
  type: T,
  keyOf: (message: BusMessageOf<T>) => string,
  logger: BusLogger,
): KeyedRouter<T> {
  const byKey = new Map<string, Set<BusHandler<T>>>();
  let busSubscription: Promise<Unsubscribe> | undefined;
  let closed = false;

  function ensureSubscribed(): Promise<Unsubscribe> {
    busSubscription ??= bus
      .subscribe(type, (message) => {
        const handlers = byKey.get(keyOf(message));
        if (handlers) dispatchToHandlers(handlers, message, logger);
      })
      .catch((error: unknown) => {
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
