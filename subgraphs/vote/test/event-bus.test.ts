// One suite, two implementations: the Redis event bus and its in-memory twin must behave the same
// for everything callers rely on. Redis-only behaviour (malformed bytes, one connection, other
// processes) follows in its own block.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createAsyncQueue } from '@votemesh/common/bus/async-queue';
import type { BusLogger, EventBus } from '@votemesh/common/bus/event-bus';
import { createKeyedRouter, keyedMessages } from '@votemesh/common/bus/keyed-router';
import { createMemoryEventBus } from '@votemesh/common/bus/memory-event-bus';
import { createRedisEventBus } from '@votemesh/common/bus/redis-event-bus';
import type { BusMessage, PollStatusUpdate, ReceiptUpdate } from '@votemesh/common/contracts/bus';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { Redis } from 'ioredis';
import { createReceiptEvents } from '../src/votes/receipt-events.ts';

interface RecordingLogger extends BusLogger {
  readonly warnings: string[];
  readonly errors: string[];
}

function recordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, warn: (_obj, msg) => void warnings.push(msg), error: (_obj, msg) => void errors.push(msg) };
}

function receipt(status: ReceiptUpdate['status'] = 'COUNTED', receiptId: string = randomUUID()): ReceiptUpdate {
  return { type: 'receipt', receiptId, pollId: randomUUID(), status, updatedAt: new Date().toISOString() };
}

function pollStatus(pollId: string = randomUUID()): PollStatusUpdate {
  return { type: 'poll-status', pollId, status: 'OPEN', at: new Date().toISOString() };
}

interface Implementation {
  readonly name: string;
  create(logger: BusLogger): Promise<{ bus: EventBus; dispose(): Promise<void> }>;
}

const prefix = `vmtest:${randomBytes(6).toString('hex')}:`;
const redisConnections: Redis[] = [];

const implementations: Implementation[] = [
  {
    name: 'memory',
    create: async (logger) => {
      const bus = createMemoryEventBus(logger);
      return { bus, dispose: () => bus.close() };
    },
  },
  {
    name: 'redis',
    create: async (logger) => {
      const publisher = new Redis('redis://127.0.0.1:6379');
      redisConnections.push(publisher);
      const bus = createRedisEventBus({ publisher, subscriber: publisher.duplicate(), prefix, logger });
      return { bus, dispose: () => bus.close() };
    },
  },
];

after(() => {
  for (const connection of redisConnections) connection.disconnect();
});

for (const implementation of implementations) {
  describe(`event bus (${implementation.name})`, () => {
    let bus: EventBus;
    let logger: RecordingLogger;
    let dispose: () => Promise<void>;
    before(async () => {
      logger = recordingLogger();
      ({ bus, dispose } = await implementation.create(logger));
    });
    after(async () => {
      await dispose();
    });

    it('delivers a published message to every subscriber of its type, as an equal copy', async () => {
      const first: BusMessage[] = [];
      const second: BusMessage[] = [];
      const stopFirst = await bus.subscribe('receipt', (message) => void first.push(message));
      const stopSecond = await bus.subscribe('receipt', (message) => void second.push(message));
      const message = receipt();
      await bus.publish(message);
      await waitFor(() => first.length === 1 && second.length === 1, { what: 'both handlers to receive the message' });
      assert.deepEqual(first[0], message);
      assert.deepEqual(second[0], message);
      stopFirst();
      stopSecond();
    });

    it('keeps types apart', async () => {
      const receipts: BusMessage[] = [];
      const statuses: BusMessage[] = [];
      const stopReceipts = await bus.subscribe('receipt', (message) => void receipts.push(message));
      const stopStatuses = await bus.subscribe('poll-status', (message) => void statuses.push(message));
      await bus.publish(pollStatus());
      await bus.publish(receipt());
      await waitFor(() => receipts.length === 1 && statuses.length === 1, { what: 'one message of each type' });
      assert.equal(receipts[0]?.type, 'receipt');
      assert.equal(statuses[0]?.type, 'poll-status');
      stopReceipts();
      stopStatuses();
    });

    it('stops delivering after unsubscribe, which may be called twice', async () => {
      const stopped: BusMessage[] = [];
      const witness: BusMessage[] = [];
      const stop = await bus.subscribe('receipt', (message) => void stopped.push(message));
      const stopWitness = await bus.subscribe('receipt', (message) => void witness.push(message));
      stop();
      stop();
      await bus.publish(receipt());
      // The witness got the message, so the unsubscribed handler had its chance and did not take it.
      await waitFor(() => witness.length === 1, { what: 'the witness to receive the message' });
      assert.equal(stopped.length, 0);
      stopWitness();
    });

    it('isolates a throwing handler from the others and reports it', async () => {
      const received: BusMessage[] = [];
      const stopBad = await bus.subscribe('receipt', () => {
        throw new Error('handler bug');
      });
      const stopGood = await bus.subscribe('receipt', (message) => void received.push(message));
      await bus.publish(receipt());
      await waitFor(() => received.length === 1, { what: 'the healthy handler to receive the message' });
      assert.ok(logger.errors.includes('bus handler failed'));
      stopBad();
      stopGood();
    });

    it('routes by key to only the handlers of that key', async () => {
      const router = createKeyedRouter(bus, [keyedMessages('receipt', (message) => message.receiptId)], logger);
      const wanted = randomUUID();
      const mine: ReceiptUpdate[] = [];
      const others: ReceiptUpdate[] = [];
      const stopMine = await router.subscribe(wanted, (message) => void mine.push(message));
      const stopOthers = await router.subscribe(randomUUID(), (message) => void others.push(message));
      assert.equal(router.size, 2);
      await bus.publish(receipt('COUNTED', randomUUID()));
      await bus.publish(receipt('COUNTED', wanted));
      await waitFor(() => mine.length === 1, { what: 'the keyed handler to receive its message' });
      assert.equal(mine[0]?.receiptId, wanted);
      assert.equal(others.length, 0);
      stopMine();
      stopOthers();
      assert.equal(router.size, 0);
      router.close();
    });

    it('routes each receipt of a batch message, and single receipt messages, to the handlers of its receipt', async () => {
      const router = createReceiptEvents(bus, logger);
      const [first, second, single, unwatched] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const received = new Map<string, ReceiptUpdate[]>();
      const record = (receiptId: string) => (update: ReceiptUpdate) => void received.set(receiptId, [...(received.get(receiptId) ?? []), update]);
      const stops = await Promise.all([first, second, single].map((receiptId) => router.subscribe(receiptId, record(receiptId))));
      // A throwing handler of the first receipt keeps neither its sibling nor the second receipt from delivery.
      stops.push(
        await router.subscribe(first, () => {
          throw new Error('handler bug');
        }),
      );
      const pollId = randomUUID();
      const updatedAt = new Date().toISOString();
      await bus.publish({
        type: 'receipts',
        updatedAt,
        receipts: [
          { receiptId: first, pollId, status: 'COUNTED' },
          { receiptId: unwatched, pollId, status: 'COUNTED' },
          { receiptId: second, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote' },
        ],
      });
      const legacy = receipt('REJECTED', single);
      await bus.publish(legacy);
      await waitFor(() => received.size === 3, { what: 'a change for each watched receipt' });
      assert.deepEqual(received.get(first), [{ type: 'receipt', receiptId: first, pollId, status: 'COUNTED', updatedAt }]);
      assert.deepEqual(received.get(second), [
        { type: 'receipt', receiptId: second, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote', updatedAt },
      ]);
      assert.deepEqual(received.get(single), [legacy]);
      assert.ok(logger.errors.includes('bus handler failed'));
      for (const stop of stops) stop();
      assert.equal(router.size, 0);
      router.close();
    });

    it('refuses use after close', async () => {
      const { bus: closing, dispose: closeIt } = await implementation.create(recordingLogger());
      await closeIt();
      await closeIt();
      await assert.rejects(closing.publish(receipt()), /closed/);
      await assert.rejects(
        closing.subscribe('receipt', () => undefined),
        /closed/,
      );
    });
  });
}

describe('event bus (redis only)', () => {
  let publisher: Redis;
  let subscriber: Redis;
  let bus: EventBus;
  let logger: RecordingLogger;
  before(() => {
    logger = recordingLogger();
    publisher = new Redis('redis://127.0.0.1:6379');
    subscriber = publisher.duplicate();
    bus = createRedisEventBus({ publisher, subscriber, prefix, logger });
  });
  after(async () => {
    await bus.close();
    publisher.disconnect();
  });

  it('logs and drops malformed messages, then keeps delivering', async () => {
    const received: BusMessage[] = [];
    const stop = await bus.subscribe('receipt', (message) => void received.push(message));
    await publisher.publish(`${prefix}bus:receipt`, 'not json');
    await publisher.publish(`${prefix}bus:receipt`, JSON.stringify({ type: 'receipt', receiptId: 'nope' }));
    await publisher.publish(`${prefix}bus:receipt`, JSON.stringify(pollStatus()));
    const valid = receipt();
    await bus.publish(valid);
    await waitFor(() => received.length === 1, { what: 'the valid message' });
    assert.deepEqual(received, [valid]);
    assert.equal(logger.warnings.filter((warning) => warning === 'dropped a malformed bus message').length, 2);
    assert.equal(logger.warnings.filter((warning) => warning === 'dropped a bus message published on the wrong channel').length, 1);
    stop();
  });

  it('uses one subscriber connection per process and unsubscribes the channel when the last handler leaves', async () => {
    const channel = `${prefix}bus:tally`;
    const stops = await Promise.all(Array.from({ length: 5 }, () => bus.subscribe('tally', () => undefined)));
    const [, count] = (await publisher.pubsub('NUMSUB', channel)) as [string, number];
    assert.equal(count, 1, 'five handlers, one Redis subscription');
    for (const stop of stops) stop();
    await waitFor(async () => ((await publisher.pubsub('NUMSUB', channel)) as [string, number])[1] === 0, { what: 'the channel to be unsubscribed' });
  });

  it('carries messages between processes sharing the prefix', async () => {
    const otherPublisher = new Redis('redis://127.0.0.1:6379');
    const other = createRedisEventBus({ publisher: otherPublisher, subscriber: otherPublisher.duplicate(), prefix, logger: recordingLogger() });
    try {
      const received: BusMessage[] = [];
      const stop = await bus.subscribe('poll-status', (message) => void received.push(message));
      const message = pollStatus();
      await other.publish(message);
      await waitFor(() => received.length === 1, { what: 'the message from the other bus' });
      assert.deepEqual(received[0], message);
      stop();
    } finally {
      await other.close();
      otherPublisher.disconnect();
    }
  });
});

describe('async queue', () => {
  it('hands pushed values to a waiting consumer and buffered ones in order, then ends', async () => {
    let closed = 0;
    const queue = createAsyncQueue<number>({ onClose: () => closed++ });
    const first = queue.iterator.next();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    queue.end();
    assert.deepEqual(await first, { done: false, value: 1 });
    const rest: number[] = [];
    for await (const value of queue.iterator) rest.push(value);
    assert.deepEqual(rest, [2, 3]);
    assert.equal(closed, 1);
  });

  it('runs cleanup once when the consumer returns early', async () => {
    let closed = 0;
    const queue = createAsyncQueue<number>({ onClose: () => closed++ });
    queue.push(1);
    await queue.iterator.return?.();
    await queue.iterator.return?.();
    queue.push(2);
    assert.deepEqual(await queue.iterator.next(), { done: true, value: undefined });
    assert.equal(closed, 1);
  });

  it('fails a consumer that falls too far behind', async () => {
    const queue = createAsyncQueue<number>({ maxBuffered: 2 });
    queue.push(1);
    queue.push(2);
    queue.push(3);
    assert.deepEqual(await queue.iterator.next(), { done: false, value: 1 });
    assert.deepEqual(await queue.iterator.next(), { done: false, value: 2 });
    await assert.rejects(queue.iterator.next(), /fell more than 2 events behind/);
  });
});
