// raceTimeout, the one timeout race behind readiness checks, the audit spool gauge, the shutdown
// fuse and the gateway's subscription drain: the work's value or `timed-out`, the timer cleared
// once the race is decided, and unref'd unless `keepAlive` asks otherwise.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { raceTimeout } from '../src/race-timeout.ts';

/** Timers that keep this process alive right now (an unref'd one is not listed). */
const refTimers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

/** Work that never settles. */
const never = new Promise<never>(() => {});

describe('raceTimeout', () => {
  it("answers the work's value and leaves no timer behind", async () => {
    const before = refTimers();
    assert.deepEqual(await raceTimeout(Promise.resolve(42), 60_000, { keepAlive: true }), { kind: 'settled', value: 42 });
    assert.equal(refTimers(), before);
  });

  it('answers timed-out when the deadline passes first; its timer does not hold the process', async () => {
    const before = refTimers();
    const race = raceTimeout(never, 20);
    assert.equal(refTimers(), before, 'unref’d by default');
    assert.deepEqual(await race, { kind: 'timed-out' });
  });

  it('holds the process with keepAlive, until the race is decided', async () => {
    const before = refTimers();
    const race = raceTimeout(never, 20, { keepAlive: true });
    assert.equal(refTimers(), before + 1);
    assert.deepEqual(await race, { kind: 'timed-out' });
    assert.equal(refTimers(), before);
  });

  it('rejects when the work rejects first, and clears its timer', async () => {
    const before = refTimers();
    await assert.rejects(raceTimeout(Promise.reject(new Error('refused')), 60_000, { keepAlive: true }), /refused/);
    assert.equal(refTimers(), before);
  });
});
