// The event bus over Redis pub/sub. One subscriber connection serves the whole process: the first
// local subscription to a type SUBSCRIBEs its channel, the last one to leave UNSUBSCRIBEs. Incoming
// bytes become messages only through `parseBusMessage`; anything else is logged and dropped.
// Tracing (messaging semantic conventions): a PUBLISH inside a traced operation is a `send bus`
// producer span; a received message that carries a traceparent (tally updates) is handled in a
// `process bus` consumer span, its child. Untraced publishes and messages without a traceparent
// (receipts, poll status) start no trace: a root span per message would only add noise.
import { context as contextApi, SpanKind, trace, type Attributes } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { encodeBusMessage, parseBusMessage, type BusMessage, type BusMessageType } from '../contracts/bus.ts';
import { createRedisKeys } from '../contracts/redis-keys.ts';
import { ATTR, ATTR_VALUES, SPAN_NAMES, TRACER_NAMES } from '../telemetry/names.ts';
import { contextFromTraceparent, inRootContext, withSpan } from '../telemetry/propagation.ts';
import { dispatchToHandlers, type BusHandler, type BusLogger, type BusMessageOf, type EventBus, type Unsubscribe } from './event-bus.ts';

type AnyHandler = (message: BusMessage) => void;

const tracer = trace.getTracer(TRACER_NAMES.common);

function messagingAttributes(channel: string, operationType: string): Attributes {
  return {
    [ATTR.MESSAGING_SYSTEM]: ATTR_VALUES.MESSAGING_SYSTEM_REDIS,
    [ATTR.MESSAGING_DESTINATION_NAME]: channel,
    [ATTR.MESSAGING_OPERATION_TYPE]: operationType,
  };
}

/**
 * Runs `send`, which PUBLISHes on `channel` some other way than `publish` (e.g. inside a MULTI with
 * other writes), as the `send bus` producer span `publish` would have made. Only while the active
 * span records: an unrecorded span would add nothing but its cost.
 */
export function tracePublish<T>(channel: string, send: () => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()?.isRecording()) return send();
  return withSpan(tracer, SPAN_NAMES.busSend, messagingAttributes(channel, ATTR_VALUES.MESSAGING_OPERATION_SEND), send, { kind: SpanKind.PRODUCER });
}

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
  const gapListeners = new Set<() => void>();
  let closing: Promise<void> | undefined;

  // ioredis re-subscribes by itself after a reconnect, but whatever was published while the
  // connection was down never arrives. So a reconnect is a gap: once every channel is subscribed
  // again (SUBSCRIBE is idempotent; done here so the order is certain), the listeners re-read.
  let connectionLost = false;
  subscriber.on('close', () => {
    if (!closing) connectionLost = true;
  });
  subscriber.on('ready', () => {
    if (!connectionLost || closing) return;
    connectionLost = false;
    const names = [...channels.keys()];
    (names.length > 0 ? subscriber.subscribe(...names) : Promise.resolve()).then(
      () => {
        logger.warn({ channels: names.length }, 'bus subscriber reconnected; messages published meanwhile were missed, subscribers re-read');
        dispatchToHandlers(gapListeners, undefined, logger, { event: 'bus gap' });
      },
      // The connection is gone again: its next 'ready' comes with another gap.
      (error: unknown) => {
        connectionLost = true;
        logger.warn({ err: error }, 'bus re-subscribe after a reconnect failed');
      },
    );
  });

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
    // Explicitly in no trace: messages arrive on the subscriber's socket, which carries the context
    // it was connected in, and that may be a request's (a process that subscribes lazily).
    if (message.type !== 'tally' || message.traceparent === undefined) {
      inRootContext(() => dispatchToHandlers(state.handlers, message, logger, { type: message.type }));
      return;
    }
    const parent = contextFromTraceparent(message.traceparent);
    const span = tracer.startSpan(
      SPAN_NAMES.busProcess,
      { kind: SpanKind.CONSUMER, attributes: { ...messagingAttributes(channel, ATTR_VALUES.MESSAGING_OPERATION_PROCESS), [ATTR.POLL_ID]: message.pollId } },
      parent,
    );
    // Handlers run synchronously (dispatchToHandlers isolates their throws), so the span covers them.
    contextApi.with(trace.setSpan(parent, span), () => dispatchToHandlers(state.handlers, message, logger, { type: message.type }));
    span.end();
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
        // The channel's SUBSCRIBE serves every later subscriber too: part of no request's trace.
        created.subscribed = inRootContext(() => subscriber.subscribe(channel)).then(
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
      const channel = keys.channel(message.type);
      const payload = encodeBusMessage(message);
      if (!trace.getActiveSpan()) {
        await publisher.publish(channel, payload);
        return;
      }
      await withSpan(
        tracer,
        SPAN_NAMES.busSend,
        messagingAttributes(channel, ATTR_VALUES.MESSAGING_OPERATION_SEND),
        () => publisher.publish(channel, payload),
        {
          kind: SpanKind.PRODUCER,
        },
      );
    },
    onGap(listener) {
      const stored = (): void => listener();
      gapListeners.add(stored);
      return () => {
        gapListeners.delete(stored);
      };
    },
    close(): Promise<void> {
      closing ??= (async () => {
        channels.clear();
        gapListeners.clear();
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
