// The re-read after a bus gap: retried until it succeeds, read once more when a gap comes while a
// read is in flight, and silent once the subscription ended.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGapReread } from '../src/bus/gap-reread.ts';

/** A read whose answers the test hands out one at a time. */
function controlledRead<T>() {
  const pending: { resolve: (value: T) => void; reject: (error: Error) => void }[] = [];
  let calls = 0;
  return {
    read: () => {
      calls += 1;
      return new Promise<T>((resolve, reject) => pending.push({ resolve, reject }));
    },
    get calls() {
      return calls;
    },
    next: () => waitFor(() => pending.shift(), { timeoutMs: 5000, what: 'a read to answer' }),
  };
}

describe('createGapReread', () => {
  it('retries a failed read until one succeeds, and reports each failure', async () => {
    const source = controlledRead<string>();
    const applied: string[] = [];
    const failures: number[] = [];
    const reread = createGapReread({
      read: source.read,
      apply: (state) => applied.push(state),
      onError: (_error, retryInMs) => failures.push(retryInMs),
      initialDelayMs: 5,
      maxDelayMs: 20,
    });
    reread.trigger();
    (await source.next()).reject(new Error('connection refused'));
    (await source.next()).reject(new Error('connection refused'));
    (await source.next()).resolve('CLOSED');
    await waitFor(() => applied.length === 1, { timeoutMs: 5000, what: 'the state applied' });
    assert.deepEqual(applied, ['CLOSED']);
    assert.equal(failures.length, 2);
    assert.ok(
      failures.every((delay) => delay >= 2 && delay <= 20),
      `delays within the bounds: ${failures.join(', ')}`,
    );
    assert.equal(source.calls, 3);
    reread.stop();
  });

  it('reads once more after a read that was in flight when another gap came', async () => {
    const source = controlledRead<number>();
    const applied: number[] = [];
    const reread = createGapReread({ read: source.read, apply: (state) => applied.push(state), onError: () => undefined });
    reread.trigger();
    const first = await source.next();
    reread.trigger();
    reread.trigger();
    assert.equal(source.calls, 1, 'no second read while one is in flight');
    first.resolve(1);
    (await source.next()).resolve(2);
    await waitFor(() => applied.length === 2, { timeoutMs: 5000, what: 'both reads applied' });
    assert.deepEqual(applied, [1, 2]);
    assert.equal(source.calls, 2, 'the gaps during the first read cost one more read, not two');
    reread.stop();
  });

  it('neither applies a read in flight nor retries once stopped', async () => {
    const source = controlledRead<string>();
    const applied: string[] = [];
    const failures: unknown[] = [];
    const reread = createGapReread({ read: source.read, apply: (state) => applied.push(state), onError: (error) => failures.push(error), initialDelayMs: 1 });
    reread.trigger();
    const inFlight = await source.next();
    reread.stop();
    inFlight.reject(new Error('gone'));
    reread.trigger();
    // The rejection is handled in a microtask: once the next macrotask runs, it has been. A retry is
    // scheduled only after onError, so no failure reported means no retry.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(failures, []);
    assert.equal(source.calls, 1);
    assert.deepEqual(applied, []);
  });
});
