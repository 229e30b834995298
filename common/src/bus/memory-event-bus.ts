// The in-memory twin of the Redis event bus: same contract, one process. Messages are delivered
// asynchronously (on a microtask), as they would be over Redis, so callers cannot come to rely on
// a publish running handlers before it returns.
import type { BusMessage, BusMessageType } from '../contracts/bus.ts';
import { dispatchToHandlers, type BusHandler, type BusLogger, type BusMessageOf, type EventBus, type Unsubscribe } from './event-bus.ts';

type AnyHandler = (message: BusMessage) => void;

export function createMemoryEventBus(logger: BusLogger): EventBus {
  const handlers = new Map<BusMessageType, Set<AnyHandler>>();
  let closed = false;

  return {
    async subscribe<T extends BusMessageType>(type: T, handler: BusHandler<T>): Promise<Unsubscribe> {
      if (closed) throw new Error('event bus is closed');
      let set = handlers.get(type);
      if (!set) {
        set = new Set();
        handlers.set(type, set);
      }
      // Stored under its own type only, so every message it sees is a BusMessageOf<T>.
      const stored: AnyHandler = (message) => handler(message as BusMessageOf<T>);
      set.add(stored);
      return () => {
        set.delete(stored);
      };
    },
    async publish(message: BusMessage): Promise<void> {
      if (closed) throw new Error('event bus is closed');
      // A structured clone mirrors the JSON round trip of the Redis bus: no shared references.
      const copy = structuredClone(message);
      queueMicrotask(() => {
        const set = handlers.get(copy.type);
        if (set) dispatchToHandlers(set, copy, logger, { type: copy.type });
      });
    },
    // One process, no connection: nothing is ever missed.
    onGap: () => () => undefined,
    async close(): Promise<void> {
      closed = true;
      handlers.clear();
    },
  };
}
