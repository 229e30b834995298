import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHttpServer, listen } from '@votemesh/common/http-server';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { ensureGroup, readGroupStats } from '../src/stream.ts';
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

  // The listeners bind before the consumer starts: a worker that cannot serve its probes exits
  // without having read (let alone applied and acked) a single entry.
  it('exits 1 on a PORT already in use without consuming anything', async () => {
    const stream = { key: h.keys.votes, group: h.keys.tallyGroup };
    const poll = await h.createPoll(2);
    for (const voterId of ['held-1', 'held-2', 'held-3']) await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0] ?? '', voterId });
    await ensureGroup(h.redis, stream);
    const before = { stats: await readGroupStats(h.redis, stream), lastDelivered: await lastDeliveredId(stream) };
    assert.ok(before.stats.lag !== null && before.stats.lag >= 3, 'the votes wait for the group');

    const holder = await listen(
      createHttpServer(() => undefined),
      0,
      '127.0.0.1',
    );
    try {
      await assert.rejects(spawnWorker({ env: workerEnv('port-taken', { PORT: String(holder.port) }) }), (error: Error) => {
        assert.match(error.message, /worker exited \(code 1, signal null\) before listening/);
        assert.match(error.message, new RegExp(`worker failed to start: PORT=${holder.port}: address 127\\.0\\.0\\.1:${holder.port} already in use`));
        assert.doesNotMatch(error.message, /consumer started/, 'the consumer never started');
        return true;
      });
    } finally {
      await holder.close();
    }

    assert.deepEqual(await readGroupStats(h.redis, stream), before.stats, 'nothing read: stream length, pending count and lag as before');
    assert.equal(await lastDeliveredId(stream), before.lastDelivered, "the group's last-delivered-id did not move");
    assert.equal((await h.pollTally(poll.id))?.totalVotes ?? 0, 0, 'nothing applied');
    const consumers = (await h.redis.call('XINFO', 'CONSUMERS', stream.key, stream.group)) as unknown[][];
    assert.ok(!consumers.some((fields) => String(fields[1]).startsWith('port-taken#')), 'no lane ever read the group');
  });
});

/** The group's last-delivered-id (XINFO GROUPS): it moves as soon as XREADGROUP hands out an entry. */
async function lastDeliveredId(stream: { key: string; group: string }): Promise<string> {
  const groups = (await h.redis.call('XINFO', 'GROUPS', stream.key)) as unknown[][];
  for (const fields of groups) {
    const info = new Map<unknown, unknown>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i], fields[i + 1]);
    if (info.get('name') === stream.group) return String(info.get('last-delivered-id'));
  }
  throw new Error(`no group ${stream.group} on ${stream.key}`);
}
