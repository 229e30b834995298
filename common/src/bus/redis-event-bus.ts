// The event bus over Redis pub/sub. One subscriber connection serves the whole process: the first
// local subscription to a type SUBSCRIBEs its channel, the last one to leave UNSUBSCRIBEs. Incoming
// bytes become messages only through `parseBusMessage`; anything else is logged and dropped.
import type { Redis } from 'ioredis';
import { encodeBusMessage, parseBusMessage, type BusMessage, type BusMessageType } from '../contracts/bus.ts';
import { createRedisKeys } from '../contracts/redis-keys.ts';
import { dispatchToHandlers, type BusHandler, type BusLogger, type BusMessageOf, type EventBus, type Unsubscribe } from './event-bus.ts';

type AnyHandler = (message: BusMessage) => void;

export interface RedisEventBusOptions {
  /** Used for PUBLISH; stays owned by the caller. */
  readonly publisher: Redis;
  /**
   * A connection the bus puts into subscriber mode and closes on `close()`. Pass
   * `publisher.duplicate()`: a subscribed connection can run no other commands.
   */
  readonly subscriber: Redis;
  /** REDIS_PREFIX, so deployments and test runs sharing a Redis stay apart. */
  readonly prefix: string;
  readonly logger: BusLogger;
}

interface ChannelState {
  readonly type: BusMessageType;
  readonly handlers: Set<AnyHandler>;
  /** The pending or settled SUBSCRIBE of this channel; subscribers await it. */
  subscribed: Promise<void>;
}

export function createRedisEventBus(options: RedisEventBusOptions): EventBus {
  const { publisher, subscriber, logger } = options;
  const keys = createRedisKeys(options.prefix);
  const channels = new Map<string, ChannelState>();
  let closing: Promise<void> | undefined;

  subscriber.on('message', (channel: string, text: string) => {
    const state = channels.get(channel);
    if (!state) return;
    let message: BusMessage;
    try {
      message = parseBusMessage(text);
    } catch (error) {
      logger.warn({ err: error, channel }, 'dropped a malformed bus message');
      return;
    }
    if (message.type !== state.type) {
      logger.warn({ channel, type: message.type }, 'dropped a bus message published on the wrong channel');
      return;
    }
    dispatchToHandlers(state.handlers, message, logger);
  });

  function release(channel: string, state: ChannelState, handler: AnyHandler): void {
    state.handlers.delete(handler);
    if (state.handlers.size > 0 || closing) return;
    channels.delete(channel);
    subscriber.unsubscribe(channel).catch((error: unknown) => logger.warn({ err: error, channel }, 'bus unsubscribe failed'));
  }

  return {
    async subscribe<T extends BusMessageType>(type: T, handler: BusHandler<T>): Promise<Unsubscribe> {
      if (closing) throw new Error('event bus is closed');
      const channel = keys.channel(type);
      let state = channels.get(channel);
      if (!state) {
        const created: ChannelState = { type, handlers: new Set(), subscribed: Promise.resolve() };
        created.subscribed = subscriber.subscribe(channel).then(
          () => undefined,
          (error: unknown) => {
            // Let the next subscriber retry instead of inheriting a failed SUBSCRIBE forever.
            if (channels.get(channel) === created) channels.delete(channel);
            throw error;
          },
        );
        channels.set(channel, created);
        state = created;
      }
      // Stored under its own type only (checked on receipt), so every message it sees is a BusMessageOf<T>.
      const stored: AnyHandler = (message) => handler(message as BusMessageOf<T>);
      state.handlers.add(stored);
      const current = state;
      try {
        await current.subscribed;
      } catch (error) {
        current.handlers.delete(stored);
        throw error;
      }
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        release(channel, current, stored);
      };
    },
    async publish(message: BusMessage): Promise<void> {
      if (closing) throw new Error('event bus is closed');
      await publisher.publish(keys.channel(message.type), encodeBusMessage(message));
    },
    close(): Promise<void> {
      closing ??= (async () => {
        channels.clear();
        subscriber.removeAllListeners('message');
        try {
          await subscriber.quit();
        } catch {
          subscriber.disconnect();
        }
      })();
      return closing;
    },
  };
}
