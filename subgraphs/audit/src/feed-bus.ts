// The live feed across replicas: after each commit the appender's events go out on the event bus
// as `audit` messages (docs/contracts/bus.md), and every replica's feed takes them back in, so an
// admin subscribed through any replica sees what every replica appended.
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import type { AuditBusEvent } from '@votemesh/common/contracts/bus';
import type { Logger } from '@votemesh/common/logger';
import type { JsonObject } from './chain.ts';
import type { FeedSource } from './feed.ts';
import type { StoredEvent } from './store.ts';

/**
 * Largest `audit` message, in JSON characters (a single bigger event still goes alone). Redis cuts
 * off a subscriber whose unread pub/sub output passes client-output-buffer-limit (8 MB for 60 s by
 * default) and a full batch of events with large `data` would be tens of MB in one message.
 * @default 262144
 */
export const DEFAULT_MAX_MESSAGE_CHARS = 256 * 1024;

export function toBusEvent(event: StoredEvent): AuditBusEvent {
  return {
    seq: event.seq.toString(),
    eventId: event.eventId,
    at: event.at,
    actor: event.actor,
    action: event.action,
    subjectType: event.subjectType,
    subjectId: event.subjectId,
    pollId: event.pollId,
    traceId: event.traceId,
    data: event.data,
    prevHash: event.prevHash,
    hash: event.hash,
  };
}

export function fromBusEvent(event: AuditBusEvent): StoredEvent {
  // parseBusMessage checked that `data` is an object, and it came from JSON: it is a JsonObject.
  return { ...event, seq: BigInt(event.seq), data: event.data as JsonObject };
}

/**
 * About how many JSON characters `event` takes. Only `data` can be large: the other fields are
 * short by contract (docs/contracts/audit.md), so their lengths plus a fixed allowance for the
 * fixed-size fields, names and punctuation are close enough for a size cap, and this avoids
 * serializing every event twice (the bus encodes the message anyway).
 */
function approximateJsonLength(event: AuditBusEvent): number {
  const variable = event.actor.length + event.action.length + event.subjectType.length + event.subjectId.length + (event.traceId?.length ?? 0);
  return JSON.stringify(event.data).length + variable + 400;
}

/** Groups events, in order, into slices of at most about `maxChars` JSON characters each. */
export function sliceForBus(events: readonly AuditBusEvent[], maxChars: number): AuditBusEvent[][] {
  const slices: AuditBusEvent[][] = [];
  let current: AuditBusEvent[] = [];
  let size = 0;
  for (const event of events) {
    const eventSize = approximateJsonLength(event);
    if (current.length > 0 && size + eventSize > maxChars) {
      slices.push(current);
      current = [];
      size = 0;
    }
    current.push(event);
    size += eventSize;
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

export function createBusFeedSource(bus: EventBus): FeedSource {
  return {
    subscribe: (deliver) => bus.subscribe('audit', (message) => deliver(message.events.map(fromBusEvent))),
    onGap: (listener) => bus.onGap(listener),
  };
}

export interface AppendedPublisher {
  /** Publishes one commit's events (in seq order); failures are logged, never thrown. */
  publish(events: readonly StoredEvent[]): void;
  /** Resolves when every publish started so far has finished. */
  flush(): Promise<void>;
}

export interface AppendedPublisherOptions {
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly maxMessageChars?: number;
}

export function createAppendedPublisher(options: AppendedPublisherOptions): AppendedPublisher {
  const maxChars = options.maxMessageChars ?? DEFAULT_MAX_MESSAGE_CHARS;
  const inFlight = new Set<Promise<void>>();

  function send(events: AuditBusEvent[]): void {
    // Under the root context: whichever ingest call's span happens to be active did not cause this
    // batch (it mixes many senders' events), so a `send bus` span under it would mislead. Slices
    // are handed to the one publisher connection in order, and Redis keeps that order.
    const sent = context
      .with(ROOT_CONTEXT, () => options.bus.publish({ type: 'audit', events }))
      .catch((error: unknown) => {
        options.logger.error(
          { err: error, events: events.length, firstSeq: events[0]?.seq, lastSeq: events.at(-1)?.seq },
          'audit feed publish failed: live subscribers miss these events (the log has them)',
        );
      })
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }

  return {
    publish(events) {
      for (const slice of sliceForBus(events.map(toBusEvent), maxChars)) send(slice);
    },
    async flush() {
      await Promise.all(inFlight);
    },
  };
}
