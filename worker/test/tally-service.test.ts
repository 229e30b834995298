import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import { createMemoryEventBus } from '@votemesh/common/bus/memory-event-bus';
import { createRedisEventBus } from '@votemesh/common/bus/redis-event-bus';
import type { TallyServiceClient } from '@votemesh/common/grpc/generated/votemesh/tally/v1/TallyService';
import type { PollTally__Output } from '@votemesh/common/grpc/generated/votemesh/tally/v1/PollTally';
import { loadTallyProto } from '@votemesh/common/grpc/load';
import { refuseConnections } from '@votemesh/common/testing/database';
import { captureLogs } from '@votemesh/common/testing/log-capture';
import { killRedisConnection } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startConsumer, type Consumer } from '../src/consumer.ts';
import { ERROR_CODE_METADATA, fromPollTally, startTallyServer, type TallyServer } from '../src/tally-service.ts';
import { commitBatch } from '../src/apply-batch.ts';
import { createHarness, REDIS_URL, voteEntry, type Harness } from './support/harness.ts';

let h: Harness;
let server: TallyServer;
let client: TallyServiceClient;
let bus: ReturnType<typeof createRedisEventBus>;
// The consumer is a separate instance from the server: updates reach watchers over Redis pub/sub.
let consumer: Consumer;

before(async () => {
  h = await createHarness();
  bus = createRedisEventBus({ publisher: h.redis, subscriber: h.redis.duplicate(), prefix: h.prefix, logger: h.logger });
  server = await startTallyServer({ prisma: h.prisma, bus, logger: h.logger, windowSeconds: 5, host: '127.0.0.1', port: 0 });
  const { TallyService } = loadTallyProto().votemesh.tally.v1;
  client = new TallyService(server.address, credentials.createInsecure());
  consumer = await startConsumer({
    ...h.applyDeps,
    settings: { ...h.applyDeps.settings, consumerName: 'service-test', batchSize: 100, blockMs: 50, claimIdleMs: 30_000, claimIntervalMs: 1000 },
  });
});
after(async () => {
  client.close();
  await consumer.stop();
  await server.close(1000);
  await bus.close();
  await h[Symbol.asyncDispose]();
});

function getResults(pollId: string): Promise<PollTally__Output> {
  return new Promise((resolve, reject) =>
    client.GetResults({ poll_id: pollId }, (error, value) => (error ? reject(error) : value ? resolve(value) : reject(new Error('no value')))),
  );
}

function grpcError(error: unknown): ServiceError {
  assert.ok(error instanceof Error && 'code' in error, `expected a gRPC error, got ${String(error)}`);
  return error as ServiceError;
}

describe('GetResults', () => {
  it('answers version 0 and no votes for a poll nobody voted on yet', async () => {
    const poll = await h.createPoll(2);
    const tally = fromPollTally(await getResults(poll.id));
    assert.deepEqual(
      { pollId: tally.pollId, version: tally.version, totalVotes: tally.totalVotes, options: tally.options, committedAtMs: tally.committedAtMs },
      { pollId: poll.id, version: 0, totalVotes: 0, options: [], committedAtMs: 0 },
    );
  });

  it('answers the committed counts, version and votes/s', async () => {
    const poll = await h.createPoll(3);
    await Promise.all(['a', 'b', 'c'].map((voterId, i) => h.castVote({ pollId: poll.id, optionId: poll.optionIds[i === 2 ? 1 : 0]!, voterId })));
    const tally = await waitFor(
      async () => {
        const current = fromPollTally(await getResults(poll.id));
        return current.totalVotes === 3 ? current : undefined;
      },
      { what: 'three votes counted' },
    );
    const counts = new Map(tally.options.map((o) => [o.optionId, o.votes]));
    assert.equal(counts.get(poll.optionIds[0]!), 2);
    assert.equal(counts.get(poll.optionIds[1]!), 1);
    assert.equal(counts.has(poll.optionIds[2]!), false, 'options without votes are left out');
    assert.ok(tally.version >= 1);
    assert.ok(tally.votesPerSecond > 0);
  });

  const badInputs: [string, string, status, string][] = [
    ['an empty poll_id', '', status.INVALID_ARGUMENT, 'BAD_USER_INPUT'],
    ['a poll_id that is not a UUID', 'poll-1', status.INVALID_ARGUMENT, 'BAD_USER_INPUT'],
    ['an unknown poll', '00000000-0000-4000-8000-000000000000', status.NOT_FOUND, 'POLL_NOT_FOUND'],
  ];
  for (const [what, pollId, code, votemeshCode] of badInputs) {
    it(`fails with ${status[code]} for ${what}`, async () => {
      const error = grpcError(
        await getResults(pollId).then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      assert.equal(error.code, code);
      assert.match(error.details, pollId === '' ? /poll_id is required/ : pollId === 'poll-1' ? /poll_id must be a UUID, got "poll-1"/ : /No poll has id/);
      assert.deepEqual((error.metadata as Metadata).get(ERROR_CODE_METADATA), [votemeshCode]);
    });
  }
});

describe('WatchResults', () => {
  it('sends the current tally first, then every update committed by another instance, in version order', async () => {
    const poll = await h.createPoll(2);
    await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'w0' });
    await waitFor(async () => (await h.pollTally(poll.id))?.totalVotes === 1, { what: 'first vote counted' });

    const call = client.WatchResults({ poll_id: poll.id, send_initial: true });
    const received: ReturnType<typeof fromPollTally>[] = [];
    call.on('data', (message: PollTally__Output) => received.push(fromPollTally(message)));
    call.on('error', () => undefined);
    try {
      const initial = await waitFor(() => received[0], { what: 'initial tally' });
      assert.equal(initial.totalVotes, 1);
      await waitFor(() => server.service.watchers === 1, { what: 'watcher registered' });

      await h.castVote({ pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'w1' });
      await waitFor(() => received.some((t) => t.totalVotes === 2), { what: 'update after a second vote' });
      await h.castVote({ pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'w0' }); // change of mind
      const last = await waitFor(
        () => received.find((t) => t.version > initial.version + 1 && t.options.some((o) => o.optionId === poll.optionIds[1] && o.votes === 2)),
        { what: 'update after a change of mind' },
      );
      assert.equal(last.totalVotes, 2);
      assert.ok(last.traceparent === undefined || /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(last.traceparent));
      const versions = received.map((t) => t.version);
      assert.deepEqual(
        versions,
        [...versions].sort((x, y) => x - y),
        'versions only grow',
      );
      assert.equal(new Set(versions).size, versions.length, 'no version is sent twice');
    } finally {
      call.cancel();
    }
    await waitFor(() => server.service.watchers === 0, { what: 'watcher released after cancel' });
  });

  it('without send_initial sends only updates', async () => {
    const poll = await h.createPoll(2);
    const call = client.WatchResults({ poll_id: poll.id, send_initial: false });
    const received: ReturnType<typeof fromPollTally>[] = [];
    call.on('data', (message: PollTally__Output) => received.push(fromPollTally(message)));
    call.on('error', () => undefined);
    try {
      await waitFor(() => server.service.watchers >= 1, { what: 'watcher registered' });
      await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'x' });
      const first = await waitFor(() => received[0], { what: 'first update' });
      assert.deepEqual({ version: first.version, totalVotes: first.totalVotes }, { version: 1, totalVotes: 1 });
    } finally {
      call.cancel();
    }
  });

  it('fails with INVALID_ARGUMENT for a bad poll_id', async () => {
    const call = client.WatchResults({ poll_id: 'nope', send_initial: true });
    const error = await new Promise<ServiceError>((resolve) => call.on('error', (e: ServiceError) => resolve(e)));
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.match(error.details, /poll_id must be a UUID/);
  });

  it('leaves no bus handler behind for a stream cancelled while its bus subscription was being set up', async () => {
    // A bus whose first SUBSCRIBE hangs until released, as a slow or reconnecting Redis would.
    const inner = createMemoryEventBus(h.logger);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let subscribed = false;
    const slowBus: EventBus = {
      ...inner,
      async subscribe(type, handler) {
        await released;
        const unsubscribe = await inner.subscribe(type, handler);
        subscribed = true;
        return unsubscribe;
      },
    };
    const slow = await startTallyServer({ prisma: h.prisma, bus: slowBus, logger: h.logger, windowSeconds: 5, host: '127.0.0.1', port: 0 });
    const { TallyService } = loadTallyProto().votemesh.tally.v1;
    const slowClient = new TallyService(slow.address, credentials.createInsecure());
    try {
      const poll = await h.createPoll(2);
      const call = slowClient.WatchResults({ poll_id: poll.id, send_initial: true });
      call.on('error', () => undefined);
      await waitFor(() => slow.service.watchers === 1, { what: 'the stream waiting on its bus subscription' });
      call.cancel();
      await waitFor(() => slow.service.watchers === 0, { what: 'the server to see the cancel' });
      release();
      await waitFor(() => subscribed, { what: 'the bus subscription to complete' });
      await nextTurn(); // the watch's continuation after its await runs within this turn
      assert.equal(slow.service.routedPolls, 0);
    } finally {
      slowClient.close();
      await slow.close(1000);
    }
  });

  /**
   * A tally server on a bus of its own whose subscriber connection the test can kill, and a
   * WatchResults stream of a new poll from it (send_initial).
   */
  async function watchOnKillableBus(logger = h.logger) {
    const subscriberName = `tally-gap-${randomUUID()}`;
    const gapBus = createRedisEventBus({
      publisher: h.redis,
      subscriber: new Redis(REDIS_URL, { connectionName: subscriberName }),
      prefix: h.prefix,
      logger: h.logger,
    });
    const gapServer = await startTallyServer({ prisma: h.prisma, bus: gapBus, logger, windowSeconds: 5, host: '127.0.0.1', port: 0 });
    const { TallyService } = loadTallyProto().votemesh.tally.v1;
    const gapClient = new TallyService(gapServer.address, credentials.createInsecure());
    const poll = await h.createPoll(2);
    const call = gapClient.WatchResults({ poll_id: poll.id, send_initial: true });
    const received: ReturnType<typeof fromPollTally>[] = [];
    call.on('data', (message: PollTally__Output) => received.push(fromPollTally(message)));
    call.on('error', () => undefined);
    return {
      poll,
      received,
      killBusSubscriber: async () => assert.equal(await killRedisConnection(h.redis, subscriberName), 1),
      async close() {
        call.cancel();
        gapClient.close();
        await gapServer.close(1000);
        await gapBus.close();
      },
    };
  }

  it('sends the newest tally after its bus connection was lost and is back (what was published meanwhile is gone)', async () => {
    const { poll, received, killBusSubscriber, close } = await watchOnKillableBus();
    try {
      await waitFor(() => received.some((tally) => tally.version === 0), { what: 'the initial tally' });
      // Committed, never published: as if its tally message went out while the bus was away.
      await commitBatch(h.applyDeps, [voteEntry('1-0', { pollId: poll.id, optionId: poll.optionIds[0] as string, voterId: 'gap' })]);
      await killBusSubscriber();
      const caughtUp = await waitFor(() => received.find((tally) => tally.version === 1), { what: 'the tally committed during the gap' });
      assert.equal(caughtUp.totalVotes, 1);
    } finally {
      await close();
    }
  });

  it('retries the re-read after a gap while PostgreSQL refuses it, and sends the tally once it answers', async () => {
    const { logger, lines: logs } = captureLogs('worker-test', 'warn');
    const { poll, received, killBusSubscriber, close } = await watchOnKillableBus(logger);
    const failedRereads = (): number =>
      logs.filter((line) => line.pollId === poll.id && line.msg.startsWith('re-reading a tally after a bus gap failed')).length;
    try {
      await waitFor(() => received.some((tally) => tally.version === 0), { what: 'the initial tally' });
      // Committed, never published; then PostgreSQL goes away as the bus reconnects.
      await commitBatch(h.applyDeps, [voteEntry('1-0', { pollId: poll.id, optionId: poll.optionIds[0] as string, voterId: 'gap-retry' })]);
      await refuseConnections(h.db.url, true);
      try {
        await killBusSubscriber();
        await waitFor(() => failedRereads() >= 2, { timeoutMs: 10_000, what: 'two failed re-reads (the first and a retry)' });
        assert.ok(!received.some((tally) => tally.version === 1));
      } finally {
        await refuseConnections(h.db.url, false);
      }
      const caughtUp = await waitFor(() => received.find((tally) => tally.version === 1), { what: 'the tally committed during the gap' });
      assert.equal(caughtUp.totalVotes, 1);
    } finally {
      await close();
    }
  });
});
