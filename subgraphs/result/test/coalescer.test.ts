// The coalescer under node:test's mock timers: time moves only through `mock.timers.tick`, so
// every assertion is about exact instants and nothing sleeps.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { createCoalescer } from '../src/coalescer.ts';
import { createRandom } from './random.ts';

const SEED = Number(process.env['RESULT_TEST_SEED'] ?? Date.now() % 1_000_000);

interface State {
  readonly version: number;
}

function harness(intervalMs: number) {
  const emitted: { version: number; at: number }[] = [];
  let now = 0;
  const coalescer = createCoalescer<State>({ intervalMs, emit: (state) => emitted.push({ version: state.version, at: now }) });
  return {
    coalescer,
    emitted,
    versions: () => emitted.map((entry) => entry.version),
    tick(ms: number) {
      now += ms;
      mock.timers.tick(ms);
    },
  };
}

describe('coalescer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  describe('leading edge', () => {
    it('emits the first state at once', () => {
      const h = harness(100);
      assert.equal(h.coalescer.offer({ version: 1 }), true);
      assert.deepEqual(h.emitted, [{ version: 1, at: 0 }]);
      assert.equal(h.coalescer.emittedVersion, 1);
    });

    it('emits at once again after a quiet interval', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 1 });
      h.tick(100);
      h.tick(50);
      h.coalescer.offer({ version: 2 });
      assert.deepEqual(h.emitted, [
        { version: 1, at: 0 },
        { version: 2, at: 150 },
      ]);
    });
  });

  describe('trailing edge', () => {
    it('holds states offered during the cool-down and emits only the newest when it ends', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 1 });
      h.tick(10);
      h.coalescer.offer({ version: 2 });
      h.tick(10);
      h.coalescer.offer({ version: 3 });
      h.tick(10);
      h.coalescer.offer({ version: 4 });
      h.tick(69);
      assert.deepEqual(h.versions(), [1], 'nothing before the interval is over');
      h.tick(1);
      assert.deepEqual(h.emitted, [
        { version: 1, at: 0 },
        { version: 4, at: 100 },
      ]);
    });

    it('starts a new cool-down after a trailing emission', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 1 });
      h.coalescer.offer({ version: 2 });
      h.tick(100);
      h.coalescer.offer({ version: 3 });
      h.tick(99);
      assert.deepEqual(h.versions(), [1, 2]);
      h.tick(1);
      assert.deepEqual(h.emitted, [
        { version: 1, at: 0 },
        { version: 2, at: 100 },
        { version: 3, at: 200 },
      ]);
    });

    it('goes idle when a cool-down ends with nothing pending', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 1 });
      h.tick(100);
      h.tick(1000);
      assert.deepEqual(h.versions(), [1]);
      h.coalescer.offer({ version: 2 });
      assert.deepEqual(h.emitted.at(-1), { version: 2, at: 1100 });
    });
  });

  describe('staleness', () => {
    it('drops a state not newer than the one already emitted', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 5 });
      h.tick(500);
      assert.equal(h.coalescer.offer({ version: 5 }), false);
      assert.equal(h.coalescer.offer({ version: 4 }), false);
      h.tick(500);
      assert.deepEqual(h.versions(), [5]);
    });

    it('drops a state older than the pending one, keeping the pending one', () => {
      const h = harness(100);
      h.coalescer.offer({ version: 1 });
      h.coalescer.offer({ version: 7 });
      assert.equal(h.coalescer.offer({ version: 6 }), false);
      assert.equal(h.coalescer.offer({ version: 3 }), false);
      h.tick(100);
      assert.deepEqual(h.versions(), [1, 7]);
    });
  });

  it('with interval 0 emits every newer state at once and never uses a timer', () => {
    const h = harness(0);
    h.coalescer.offer({ version: 1 });
    h.coalescer.offer({ version: 2 });
    h.coalescer.offer({ version: 2 });
    h.coalescer.offer({ version: 3 });
    assert.deepEqual(h.versions(), [1, 2, 3]);
  });

  it('emits nothing more after dispose, even a pending state', () => {
    const h = harness(100);
    h.coalescer.offer({ version: 1 });
    h.coalescer.offer({ version: 2 });
    h.coalescer.dispose();
    h.coalescer.dispose();
    h.tick(1000);
    assert.equal(h.coalescer.offer({ version: 3 }), false);
    assert.deepEqual(h.versions(), [1]);
  });

  it('refuses a negative interval', () => {
    assert.throws(() => createCoalescer<State>({ intervalMs: -1, emit: () => {} }), RangeError);
  });

  it(`keeps rate, order and freshness over random offer schedules (seed ${SEED})`, () => {
    const random = createRandom(SEED);
    for (let run = 0; run < 200; run++) {
      mock.timers.reset();
      mock.timers.enable({ apis: ['setTimeout'] });
      const intervalMs = random.pick([1, 10, 100, 250]);
      const h = harness(intervalMs);
      const offered = new Set<number>();
      let newest = 0;
      for (let step = 0; step < 60; step++) {
        // Mostly newer versions, sometimes a replay or an out-of-order older one.
        const version = random.next() < 0.2 ? random.int(0, newest + 1) : newest + random.int(1, 3);
        offered.add(version);
        newest = Math.max(newest, version);
        h.coalescer.offer({ version });
        h.tick(random.int(0, intervalMs * 2));
      }
      h.tick(intervalMs);
      const context = `seed ${SEED}, run ${run}, interval ${intervalMs}: ${JSON.stringify(h.emitted)}`;
      for (let i = 1; i < h.emitted.length; i++) {
        const previous = h.emitted[i - 1];
        const current = h.emitted[i];
        assert.ok(previous && current);
        assert.ok(current.at - previous.at >= intervalMs, `at most one emission per interval: ${context}`);
        assert.ok(current.version > previous.version, `strictly newer each time: ${context}`);
      }
      assert.ok(
        h.emitted.every((entry) => offered.has(entry.version)),
        `only offered states: ${context}`,
      );
      assert.equal(h.emitted.at(-1)?.version, newest, `the newest state is always delivered: ${context}`);
      h.coalescer.dispose();
    }
  });
});
