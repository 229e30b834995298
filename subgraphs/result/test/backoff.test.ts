import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '../src/backoff.ts';

describe('backoffDelay', () => {
  it('doubles the nominal delay per attempt, waiting between half and all of it', () => {
    for (const [attempt, nominal] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
    ] as const) {
      assert.equal(backoffDelay(attempt, { random: () => 0 }), nominal / 2);
      assert.equal(backoffDelay(attempt, { random: () => 0.999999 }), nominal);
    }
  });

  it('caps the nominal delay at maxMs, even for huge attempt numbers', () => {
    assert.equal(backoffDelay(30, { initialMs: 100, maxMs: 5000, random: () => 0.999999 }), 5000);
    assert.equal(backoffDelay(5000, { initialMs: 100, maxMs: 5000, random: () => 0 }), 2500);
  });

  it('spreads retries with jitter', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
    assert.ok(delays.size > 10, `jittered delays vary: ${[...delays].join(', ')}`);
    for (const delay of delays) assert.ok(delay >= 800 && delay <= 1600);
  });
});
