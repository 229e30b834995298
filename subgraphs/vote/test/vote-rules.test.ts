// The pure parts: the voting window, cursors, the batch loader, castVote's poll cache and the
// scheduler's planning (with an in-memory store), each without a server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createBatchLoader } from '../src/batch-loader.ts';
import { decodeCursor, encodeCursor } from '../src/cursor.ts';
import { createPollCache } from '../src/polls/poll-cache.ts';
import { createPollScheduler } from '../src/polls/poll-scheduler.ts';
import type { PollRecord } from '../src/polls/poll-store.ts';
import { isAcceptingVotes } from '../src/votes/vote-service.ts';

const NOW = new Date('2030-01-01T12:00:00.000Z');
const at = (offsetMs: number): Date => new Date(NOW.getTime() + offsetMs);

function poll(overrides: Partial<PollRecord> = {}): PollRecord {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    question: 'Q?',
    status: 'OPEN',
    opensAt: null,
    closesAt: null,
    createdAt: at(-60_000),
    createdBy: 'admin',
    options: [],
    ...overrides,
  };
}

describe('voting window', () => {
  const cases: { name: string; poll: PollRecord; accepting: boolean }[] = [
    { name: 'OPEN without times', poll: poll(), accepting: true },
    { name: 'OPEN inside its window', poll: poll({ opensAt: at(-1000), closesAt: at(1000) }), accepting: true },
    { name: 'OPEN but past closesAt (scheduler not run yet)', poll: poll({ closesAt: at(-1) }), accepting: false },
    { name: 'OPEN exactly at closesAt', poll: poll({ closesAt: at(0) }), accepting: false },
    { name: 'OPEN before opensAt', poll: poll({ opensAt: at(1000) }), accepting: false },
    { name: 'DRAFT', poll: poll({ status: 'DRAFT' }), accepting: false },
    { name: 'DRAFT past opensAt (scheduler not run yet)', poll: poll({ status: 'DRAFT', opensAt: at(-1000) }), accepting: false },
    { name: 'CLOSED', poll: poll({ status: 'CLOSED' }), accepting: false },
  ];
  for (const { name, poll: candidate, accepting } of cases) {
    it(`${accepting ? 'accepts' : 'refuses'} votes for a poll ${name}`, () => {
      assert.equal(isAcceptingVotes(candidate, NOW), accepting);
    });
  }
});

describe('cursor', () => {
  it('round-trips (createdAt, id) and refuses anything else', () => {
    const cursor = { createdAt: at(0), id: '11111111-1111-4111-8111-111111111111' };
    assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
    for (const bad of [
      '',
      'x',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('["nope","11111111-1111-4111-8111-111111111111"]').toString('base64url'),
    ]) {
      assert.throws(
        () => decodeCursor(bad),
        (error: { extensions?: { code?: string } }) => error.extensions?.code === 'BAD_USER_INPUT',
      );
    }
  });
});

describe('batch loader', () => {
  it('answers the loads of one tick with one batch and caches per key', async () => {
    const batches: string[][] = [];
    const loader = createBatchLoader<string>(async (keys) => {
      batches.push([...keys]);
      return new Map(keys.filter((key) => key !== 'missing').map((key) => [key, key.toUpperCase()]));
    });
    const values = await Promise.all([loader.load('a'), loader.load('b'), loader.load('a'), loader.load('missing')]);
    assert.deepEqual(values, ['A', 'B', 'A', null]);
    assert.deepEqual(batches, [['a', 'b', 'missing']]);
    assert.equal(await loader.load('b'), 'B');
    assert.equal(batches.length, 1, 'served from the cache');
    loader.clearAll();
    await loader.load('b');
    assert.equal(batches.length, 2);
  });

  it('rejects every load of a failed batch and retries afterwards', async () => {
    let fail = true;
    const loader = createBatchLoader<number>(async (keys) => {
      if (fail) throw new Error('database down');
      return new Map(keys.map((key) => [key, key.length]));
    });
    await assert.rejects(Promise.all([loader.load('a'), loader.load('bb')]), /database down/);
    fail = false;
    assert.equal(await loader.load('bb'), 2);
  });
});

describe('poll cache', () => {
  it('reads once per TTL, shares concurrent misses, and drops a poll on invalidate', async () => {
    let clock = 0;
    let reads = 0;
    const lookups: string[] = [];
    const cache = createPollCache({
      store: {
        findByIds: async (ids) => {
          reads++;
          return ids.map((id) => poll({ id }));
        },
      },
      ttlMs: 1000,
      now: () => clock,
      onLookup: (result) => lookups.push(result),
    });
    await Promise.all([cache.get('p1'), cache.get('p1'), cache.get('p1')]);
    assert.equal(reads, 1);
    clock = 999;
    await cache.get('p1');
    assert.equal(reads, 1);
    clock = 1000;
    await cache.get('p1');
    assert.equal(reads, 2, 'expired after the TTL');
    cache.invalidate('p1');
    await cache.get('p1');
    assert.equal(reads, 3, 'invalidated');
    assert.deepEqual(lookups, ['miss', 'hit', 'hit', 'hit', 'miss', 'miss']);
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    const cache = createPollCache({
      store: {
        findByIds: async (ids) => {
          if (fail) throw new Error('down');
          return ids.map((id) => poll({ id }));
        },
      },
      ttlMs: 60_000,
    });
    await assert.rejects(cache.get('p1'), /down/);
    fail = false;
    assert.equal((await cache.get('p1'))?.id, 'p1');
  });
});

describe('poll scheduler', () => {
  it('sweeps at start, sleeps until the next due time, and re-plans when woken', async () => {
    const sweeps: number[] = [];
    let due: Date | null = new Date(Date.now() + 200);
    const scheduler = createPollScheduler({
      polls: {
        applyDue: async () => {
          sweeps.push(Date.now());
          return 0;
        },
      },
      store: { nextDueAt: async () => due },
      logger: createLogger({ service: 'test', level: 'fatal' }),
      sweepMs: 60_000,
    });
    const started = Date.now();
    scheduler.start();
    await waitFor(() => sweeps.length >= 1, { what: 'the first sweep' });
    const dueAt = due.getTime();
    due = null;
    await waitFor(() => sweeps.length >= 2, { what: 'the sweep at the due time' });
    assert.ok((sweeps[1] ?? 0) >= dueAt, 'not before the due time');
    assert.ok((sweeps[1] ?? 0) - started < 2000, 'on time, not at the 60 s sweep');
    scheduler.wake();
    await waitFor(() => sweeps.length >= 3, { what: 'the sweep after wake()' });
    await scheduler.stop();
    await scheduler.stop();
    const count = sweeps.length;
    scheduler.wake();
    scheduler.start();
    assert.equal(sweeps.length, count, 'a stopped scheduler stays stopped');
  });

  it('keeps going after a failed sweep', async () => {
    let attempts = 0;
    const scheduler = createPollScheduler({
      polls: {
        applyDue: async () => {
          attempts++;
          if (attempts === 1) throw new Error('database down');
          return 1;
        },
      },
      store: { nextDueAt: async () => null },
      logger: createLogger({ service: 'test', level: 'fatal' }),
      sweepMs: 100,
    });
    scheduler.start();
    await waitFor(() => attempts >= 2, { what: 'a sweep after the failed one' });
    await scheduler.stop();
  });
});
