// A transport-free publish/subscribe port for bus messages (contracts/bus.ts). The Redis
// implementation (redis-event-bus.ts) carries them between processes; the in-memory twin
// (memory-event-bus.ts) keeps one process's tests free of Redis. Both pass the same test suite.
import type { BusMessage, BusMessageType } from '../contracts/bus.ts';

/** The message of one type, e.g. `BusMessageOf<'receipt'>` is a ReceiptUpdate. */
export type BusMessageOf<T extends BusMessageType> = Extract<BusMessage, { type: T }>;

export type BusHandler<T extends BusMessageType> = (message: BusMessageOf<T>) => void;

/** Stops one subscription; calling it again does nothing. */
export type Unsubscribe = () => void;

export interface EventBus {
  /**
   * Calls `handler` for every message of `type` published from now on (by any process sharing the
   * bus). Resolves once delivery is guaranteed: a message published after the promise settles
   * reaches the handler. A handler that throws is logged by the bus; other handlers still run.
   */
  subscribe<T extends BusMessageType>(type: T, handler: BusHandler<T>): Promise<Unsubscribe>;
  /** Sends a message to every subscriber of its type, including ones in this process. */
  publish(message: BusMessage): Promise<void>;
  /**
   * Calls `listener` after each gap in delivery: the bus lost its connection and is subscribed again
   * (Redis pub/sub keeps nothing for a subscriber that is away, so messages published meanwhile are
   * gone). A subscriber that keeps state derived from messages re-reads it then; a message published
   * after the listener is called reaches the handlers again.
   */
  onGap(listener: () => void): Unsubscribe;
  /** Drops every subscription and releases connections; safe to call twice. */
  close(): Promise<void>;
}

/** What a bus needs to report dropped messages and failing handlers. */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Runs the handlers of one message (or one keyed value of it), isolating failures: one throwing handler must not starve the
 * rest. Handlers are copied first so (un)subscribing from inside a handler is safe.
 */
export function dispatchToHandlers<V>(
  handlers: ReadonlySet<(value: V) => void>,
  value: V,
  logger: BusLogger,
  logFields: Readonly<Record<string, unknown>>,
): void {
  for (const handler of [...handlers]) {
    try {
      handler(value);
    } catch (error) {
      logger.error({ err: error, ...logFields }, 'bus handler failed');
    }
  }
}
