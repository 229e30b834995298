// The auditEvents feed over the event bus, one suite against the in-memory bus and the Redis bus:
// what is published reaches every feed once and in order, filters and the slow-subscriber limit
// hold, the bus subscription is held only while someone listens. Then the `audit` wire message:
// what parseBusMessage refuses, and that the Redis bus drops it with a reason and carries on.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { BusLogger, EventBus } from '@votemesh/common/bus/event-bus';
import { createMemoryEventBus } from '@votemesh/common/bus/memory-event-bus';
import { createRedisEventBus } from '@votemesh/common/bus/redis-event-bus';
import { encodeBusMessage, parseBusMessage, type AuditAppended } from '@votemesh/common/contracts/bus';
import { createLogger } from '@votemesh/common/logger';
import { killRedisConnection } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { Redis } from 'ioredis';
import { chainHash, GENESIS_HASH } from '../src/chain.ts';
import { createAuditFeed, FeedOverflowError, type AuditFeed, type FeedSource } from '../src/feed.ts';
import { createAppendedPublisher, createBusFeedSource, sliceForBus, toBusEvent, type AppendedPublisher } from '../src/feed-bus.ts';
import type { StoredEvent } from '../src/store.ts';
import { REDIS_URL, testRedisPrefix } from './harness.ts';

interface RecordingLogger extends BusLogger {
  readonly warnings: { obj: object; msg: string }[];
}

function recordingLogger(): RecordingLogger {
  const warnings: { obj: object; msg: string }[] = [];
  return { warnings, warn: (obj, msg) => void warnings.push({ obj, msg }), error: (obj, msg) => void warnings.push({ obj, msg }) };
}

let nextSeq = 1n;
let prevHash = GENESIS_HASH;
/** A chained event with the next seq; override content fields. */
function storedEvent(overrides: Partial<Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'>> = {}): StoredEvent {
  const content = {
    eventId: randomUUID(),
    at: new Date(Date.UTC(2030, 0, 1)).toISOString(),
    actor: 'system:test',
    action: 'vote.counted',
    subjectType: 'Vote',
    subjectId: `s-${nextSeq}`,
    pollId: null,
    traceId: null,
    data: { n: Number(nextSeq) },
    ...overrides,
  };
  const hash = chainHash(prevHash, content);
  const event = { ...content, seq: nextSeq, prevHash, hash };
  nextSeq += 1n;
  prevHash = hash;
  return event;
}

/** Pulls `count` events from a subscription. */
async function take(iterator: AsyncIterableIterator<StoredEvent>, count: number): Promise<StoredEvent[]> {
  const taken: StoredEvent[] = [];
  while (taken.length < count) {
    const result = await iterator.next();
    if (result.done) break;
    taken.push(result.value);
  }
  return taken;
}

/** Counts how often the feed takes and releases its source. */
function countingSource(inner: FeedSource): FeedSource & { held: () => number } {
  let held = 0;
  return {
    held: () => held,
    onGap: (listener) => inner.onGap?.(listener) ?? (() => undefined),
    async subscribe(deliver) {
      const stop = await inner.subscribe(deliver);
      held += 1;
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        held -= 1;
        stop();
      };
    },
  };
}

interface Implementation {
  readonly name: string;
  create(logger: BusLogger): EventBus;
  /** Drops the bus's subscriber connection as a network failure would; absent: the bus has none. */
  readonly dropConnection?: () => Promise<void>;
}

const prefix = testRedisPrefix();
const connections: Redis[] = [];
const subscriberName = `audit-feed-test-${randomUUID()}`;
const implementations: Implementation[] = [
  { name: 'memory', create: (logger) => createMemoryEventBus(logger) },
  {
    name: 'redis',
    create: (logger) => {
      const publisher = new Redis(REDIS_URL);
      connections.push(publisher);
      return createRedisEventBus({ publisher, subscriber: publisher.duplicate({ connectionName: subscriberName }), prefix, logger });
    },
    dropConnection: async () => {
      const admin = connections[0];
      if (!admin || (await killRedisConnection(admin, subscriberName)) !== 1) throw new Error('no bus subscriber connection to drop');
    },
  },
];
const logger = createLogger({ service: 'audit-feed-test', level: 'silent' });

after(() => {
  for (const connection of connections) connection.disconnect();
});

for (const implementation of implementations) {
  describe(`auditEvents feed over the ${implementation.name} bus`, () => {
    let bus: EventBus;
    let source: ReturnType<typeof countingSource>;
    let feed: AuditFeed;
    let publisher: AppendedPublisher;
    const counts: number[] = [];
    before(() => {
      bus = implementation.create(recordingLogger());
    });
    afterEach(() => {
      feed.close();
    });
    after(async () => {
      await bus.close();
    });
    function start(maxQueued?: number, maxMessageChars?: number): void {
      source = countingSource(createBusFeedSource(bus));
      feed = createAuditFeed({ source, onSubscribersChanged: (count) => counts.push(count), ...(maxQueued === undefined ? {} : { maxQueued }) });
      publisher = createAppendedPublisher({ bus, logger, ...(maxMessageChars === undefined ? {} : { maxMessageChars }) });
    }

    const dropConnection = implementation.dropConnection;
    if (dropConnection) {
      it('ends live subscriptions with a clear error after a gap in the bus, instead of silently missing events', async () => {
        start();
        const subscription = await feed.subscribe({});
        const next = subscription.next();
        await dropConnection();
        await assert.rejects(next, (error: Error & { extensions?: { code?: string } }) => {
          assert.equal(error.extensions?.code, 'UPSTREAM_UNAVAILABLE');
          assert.match(error.message, /events appended meanwhile were not delivered; read them with auditLog and subscribe again/);
          return true;
        });
        assert.equal(feed.subscriberCount, 0);
        // A new subscription works again once the bus is back.
        const again = await feed.subscribe({});
        assert.equal(feed.subscriberCount, 1);
        await again.return?.();
      });
    }

    it('delivers published events once each, in seq order, with every field intact', async () => {
      start(undefined, 600);
      const subscription = await feed.subscribe({});
      const events = Array.from({ length: 8 }, (_, i) =>
        storedEvent({ pollId: i % 2 === 0 ? randomUUID() : null, traceId: `t${i}`, data: { i, nested: { b: [1, null] } } }),
      );
      // A small message limit: the eight events travel in several messages.
      assert.ok(sliceForBus(events.map(toBusEvent), 600).length > 1);
      publisher.publish(events.slice(0, 5));
      publisher.publish(events.slice(5));
      await publisher.flush();
      assert.deepEqual(await take(subscription, 8), events);
      // Nothing else is queued: a sentinel published now is the very next event.
      const sentinel = storedEvent();
      publisher.publish([sentinel]);
      assert.deepEqual(await take(subscription, 1), [sentinel]);
    });

    it('applies each subscriber its own filter', async () => {
      start();
      const pollId = randomUUID();
      const byPoll = await feed.subscribe({ pollId });
      const byAction = await feed.subscribe({ action: 'poll.opened' });
      const byActorSince = await feed.subscribe({ actor: 'admin', since: new Date(Date.UTC(2031, 0, 1)) });
      const events = [
        storedEvent({ pollId }),
        storedEvent({ action: 'poll.opened' }),
        storedEvent({ actor: 'admin', at: new Date(Date.UTC(2030, 6, 1)).toISOString() }),
        storedEvent({ actor: 'admin', at: new Date(Date.UTC(2031, 6, 1)).toISOString() }),
        storedEvent({ pollId, action: 'poll.opened' }),
      ];
      publisher.publish(events);
      assert.deepEqual(await take(byPoll, 2), [events[0], events[4]]);
      assert.deepEqual(await take(byAction, 2), [events[1], events[4]]);
      assert.deepEqual(await take(byActorSince, 1), [events[3]]);
    });

    it('cuts off a subscriber that falls behind, leaving the others', async () => {
      start(3);
      const slow = await feed.subscribe({});
      const fast = await feed.subscribe({});
      // Delivered in one go: the fast one takes the first at once and queues three, the slow one
      // has three queued when the fourth arrives.
      const events = Array.from({ length: 4 }, () => storedEvent());
      const fastReceived = take(fast, 4);
      publisher.publish(events);
      assert.deepEqual(await fastReceived, events);
      assert.deepEqual(await take(slow, 3), events.slice(0, 3));
      await assert.rejects(slow.next(), FeedOverflowError);
      assert.deepEqual(await slow.next(), { value: undefined, done: true });
      assert.equal(feed.subscriberCount, 1);
    });

    it('holds the bus subscription only while someone subscribes, and counts subscribers', async () => {
      start();
      counts.length = 0;
      assert.equal(source.held(), 0, 'nobody subscribed yet');
      const first = await feed.subscribe({});
      const second = await feed.subscribe({});
      assert.equal(source.held(), 1, 'one bus subscription for every local subscriber');
      await first.return?.();
      assert.equal(source.held(), 1);
      await second.return?.();
      await waitFor(() => source.held() === 0, { what: 'the bus subscription to be released' });
      assert.deepEqual(counts, [1, 2, 1, 0]);

      const again = await feed.subscribe({});
      await waitFor(() => source.held() === 1, { what: 'the bus subscription to be taken again' });
      const event = storedEvent();
      publisher.publish([event]);
      assert.deepEqual(await take(again, 1), [event]);
    });

    it('completes subscriptions on close and refuses new ones with UPSTREAM_UNAVAILABLE', async () => {
      start();
      const subscription = await feed.subscribe({});
      const pending = subscription.next();
      feed.close();
      assert.deepEqual(await pending, { value: undefined, done: true });
      await waitFor(() => source.held() === 0, { what: 'the bus subscription to be released' });
      await assert.rejects(feed.subscribe({}), (error: Error & { extensions?: { code?: string } }) => error.extensions?.code === 'UPSTREAM_UNAVAILABLE');
    });
  });
}

describe('auditEvents feed without a bus', () => {
  it('answers UPSTREAM_UNAVAILABLE when the source cannot be subscribed, and retries on the next subscribe', async () => {
    let attempts = 0;
    const feed = createAuditFeed({
      source: {
        async subscribe() {
          attempts += 1;
          if (attempts === 1) throw new Error('redis is away');
          return () => undefined;
        },
      },
    });
    await assert.rejects(feed.subscribe({}), (error: Error & { extensions?: { code?: string } }) => error.extensions?.code === 'UPSTREAM_UNAVAILABLE');
    assert.equal(feed.subscriberCount, 0);
    const subscription = await feed.subscribe({});
    assert.equal(feed.subscriberCount, 1);
    await subscription.return?.();
    feed.close();
  });
});

describe('sliceForBus', () => {
  it('keeps order, stays under the cap, and sends an event bigger than the cap alone', () => {
    const events = [
      ...Array.from({ length: 30 }, () => storedEvent()),
      storedEvent({ data: { big: 'x'.repeat(5000) } }),
      ...Array.from({ length: 30 }, () => storedEvent()),
    ].map(toBusEvent);
    const slices = sliceForBus(events, 4000);
    assert.deepEqual(slices.flat(), events);
    for (const slice of slices) {
      const length = encodeBusMessage({ type: 'audit', events: slice }).length;
      assert.ok(slice.length === 1 || length <= 4000, `a slice of ${slice.length} events is ${length} characters`);
    }
    assert.ok(slices.some((slice) => slice.length === 1 && slice[0]?.data['big'] !== undefined));
  });
});

describe('the audit bus message', () => {
  const valid = (): Record<string, unknown> => ({ type: 'audit', events: [toBusEvent(storedEvent({ pollId: randomUUID(), traceId: 'abc' }))] });
  const event = (message: Record<string, unknown>): Record<string, unknown> => (message['events'] as Record<string, unknown>[])[0] ?? {};

  it('round-trips through encode and parse', () => {
    const message = valid() as unknown as AuditAppended;
    assert.deepEqual(parseBusMessage(encodeBusMessage(message)), message);
  });

  const refused: [string, (message: Record<string, unknown>) => void, RegExp][] = [
    ['no events', (m) => void (m['events'] = []), /field "events" must be a non-empty array/],
    ['events not an array', (m) => void (m['events'] = {}), /field "events" must be a non-empty array/],
    ['an event not an object', (m) => void (m['events'] = ['x']), /events\[0\]: field "\(root\)" must be an object/],
    ['seq as a number', (m) => void (event(m)['seq'] = 5), /events\[0\]: field "seq" must be a non-empty string/],
    ['seq not a positive integer', (m) => void (event(m)['seq'] = '-1'), /field "seq" must be a positive 64-bit integer/],
    ['seq past 64 bits', (m) => void (event(m)['seq'] = '9223372036854775808'), /field "seq" must be a positive 64-bit integer/],
    ['a bad event id', (m) => void (event(m)['eventId'] = 'nope'), /field "eventId" must be a UUID/],
    ['a bad time', (m) => void (event(m)['at'] = 'yesterday'), /field "at" must be an ISO-8601 time/],
    ['an empty actor', (m) => void (event(m)['actor'] = ''), /field "actor" must be a non-empty string/],
    ['a missing action', (m) => void delete event(m)['action'], /field "action" must be a non-empty string/],
    ['a missing poll id (null is explicit)', (m) => void delete event(m)['pollId'], /field "pollId" must be a non-empty string/],
    ['a bad poll id', (m) => void (event(m)['pollId'] = 'poll-1'), /field "pollId" must be a UUID/],
    ['data not an object', (m) => void (event(m)['data'] = [1]), /field "data" must be a JSON object/],
    ['a bad hash', (m) => void (event(m)['hash'] = 'ABC'), /field "hash" must be 64 lowercase hex digits/],
    ['a NUL in a string', (m) => void (event(m)['subjectId'] = 'a\u0000b'), /field "subjectId" must not contain NUL/],
    [
      'seqs out of order',
      (m) => {
        const [first] = m['events'] as Record<string, unknown>[];
        m['events'] = [
          { ...first, seq: '10' },
          { ...first, seq: '9' },
        ];
      },
      /events\[1\]: field "seq" must be greater than the previous event's seq 10/,
    ],
  ];
  for (const [name, spoil, reason] of refused) {
    it(`refuses ${name}, naming the field`, () => {
      const message = valid();
      spoil(message);
      assert.throws(() => parseBusMessage(JSON.stringify(message)), reason);
    });
  }

  it('is logged and dropped by the Redis bus with its reason, and the next valid message still arrives', async () => {
    const logger = recordingLogger();
    const channelPrefix = testRedisPrefix();
    const publisher = new Redis(REDIS_URL);
    const bus = createRedisEventBus({ publisher, subscriber: publisher.duplicate(), prefix: channelPrefix, logger });
    try {
      const received: AuditAppended[] = [];
      const stop = await bus.subscribe('audit', (message) => void received.push(message));
      const spoiled = valid();
      event(spoiled)['hash'] = 'not-a-hash';
      await publisher.publish(`${channelPrefix}bus:audit`, JSON.stringify(spoiled));
      await publisher.publish(`${channelPrefix}bus:audit`, '{"type":"audit"');
      const good = valid() as unknown as AuditAppended;
      await bus.publish(good);
      await waitFor(() => received.length === 1, { what: 'the valid message' });
      assert.deepEqual(received, [good]);
      const drops = logger.warnings.filter((warning) => warning.msg === 'dropped a malformed bus message');
      assert.equal(drops.length, 2);
      assert.match(String((drops[0]?.obj as { err?: Error }).err?.message), /field "hash" must be 64 lowercase hex digits/);
      stop();
    } finally {
      await bus.close();
      publisher.disconnect();
    }
  });
});
