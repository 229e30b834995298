import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { readGroupStats } from '../src/stream.ts';
import { createHarness, seededRandom, type Harness } from './support/harness.ts';
import { spawnWorker } from './support/worker-process.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

function workerEnv(consumerName: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: h.db.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: h.prefix,
    // Nothing listens there: audit events wait in the client's buffer, the worker must not care.
    AUDIT_GRPC_URL: '127.0.0.1:9',
    CONSUMER_NAME: consumerName,
    BATCH_SIZE: '50',
    BLOCK_MS: '100',
    LOG_LEVEL: 'info',
    OTEL_SDK_DISABLED: 'true',
    ...extra,
  };
}

describe('worker as a separate process', () => {
  it('serves probes and metrics, survives a SIGKILL mid-stream (a second worker claims the rest), and drains on SIGTERM', async () => {
    const poll = await h.createPoll(3);
    await using first = await spawnWorker({ env: workerEnv('proc-a') });
    assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(first.grpcAddress, /^127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
    await waitFor(async () => (await fetch(`${first.url}/readyz`)).status === 200, { what: 'worker ready' });

    const random = seededRandom(7);
    const latest = new Map<string, string>();
    await h.enqueueRandomVotes(poll, { rounds: 10, perRound: 200, voterCount: 300, random, latest });
    await waitFor(async () => ((await h.pollTally(poll.id))?.version ?? 0) >= 2, { what: 'first batches applied' });
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    for (const name of [
      'votemesh_worker_batch_size',
      'votemesh_worker_batch_apply_seconds',
      'votemesh_worker_votes_applied_total',
      'votemesh_worker_claimed_entries_total',
      'votemesh_worker_deleted_consumers_total',
      'votemesh_stream_length',
      'votemesh_stream_pending',
      'votemesh_stream_lag',
    ]) {
      assert.ok(metrics.includes(name), `metrics expose ${name}`);
    }
    assert.deepEqual(await first.kill('SIGKILL'), { code: null, signal: 'SIGKILL' });

    await using second = await spawnWorker({ env: workerEnv('proc-b', { CLAIM_IDLE_MS: '1', CLAIM_INTERVAL_MS: '50' }) });
    await waitFor(
      async () => {
        const stats = await readGroupStats(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
        return stats.length === 0 && stats.pending === 0;
      },
      { what: 'the second worker drains the stream, claimed entries included', timeoutMs: 30_000 },
    );

    const votes = await h.optionVotes(poll.id);
    for (const optionId of poll.optionIds) assert.equal(votes.get(optionId) ?? 0, [...latest.values()].filter((id) => id === optionId).length);
    assert.equal((await h.pollTally(poll.id))?.totalVotes, latest.size);

    assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
    assert.ok(
      second.logs.some((line) => line['msg'] === 'consumer stopped'),
      'the consumer stopped cleanly',
    );
  });

  it('refuses to start on bad configuration, naming the variable', async () => {
    await assert.rejects(spawnWorker({ env: workerEnv('bad', { BATCH_SIZE: 'lots' }) }), /BATCH_SIZE must be a whole number/);
  });
});
