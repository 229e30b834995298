// The worker process while Redis is unreachable (a TCP proxy in front of the real Redis, cut and
// restored): /metrics and /readyz still answer at once, the stream gauges say they are stale, every
// connection logs its errors through the logger once per outage (never ioredis's "Unhandled error
// event"), and everything recovers when Redis is back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTcpProxy } from '@votemesh/common/testing/tcp-proxy';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createHarness, type Harness } from './support/harness.ts';
import { spawnWorker } from './support/worker-process.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

/** GET with a deadline: a probe that does not answer within it fails the test instead of hanging it. */
async function probe(url: string): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  return { status: response.status, body: await response.text(), ms: Date.now() - started };
}

function sample(metrics: string, name: string): number | undefined {
  const line = metrics.split('\n').find((row) => row.startsWith(`${name}{`) || row.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('worker while Redis is unreachable', () => {
  it('answers /metrics and /readyz at once, marks the stream gauges stale, logs each connection once, and recovers', async () => {
    // A stable backlog for the gauges to show: three entries pending under a consumer that never
    // acks, which this worker does not claim (CLAIM_IDLE_MS far away) and so never deletes.
    await h.redis.xgroup('CREATE', h.keys.votes, h.keys.tallyGroup, '0', 'MKSTREAM');
    const poll = await h.createPoll(2);
    for (const voterId of ['v1', 'v2', 'v3']) await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0] ?? '', voterId });
    await h.redis.xreadgroup('GROUP', h.keys.tallyGroup, 'gone', 'COUNT', 3, 'STREAMS', h.keys.votes, '>');
    await using proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
    await using worker = await spawnWorker({
      env: {
        DATABASE_URL: h.db.url,
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        REDIS_PREFIX: h.prefix,
        AUDIT_GRPC_URL: '127.0.0.1:9',
        CONSUMER_NAME: 'outage',
        CLAIM_IDLE_MS: '600000',
        WORKER_CONCURRENCY: '2',
        BLOCK_MS: '100',
        LOG_LEVEL: 'debug',
        OTEL_SDK_DISABLED: 'true',
      },
    });
    await waitFor(async () => (await probe(`${worker.url}/readyz`)).status === 200, { what: 'worker ready' });
    const before = (await probe(`${worker.url}/metrics`)).body;
    assert.equal(sample(before, 'votemesh_stream_stats_up'), 1);
    assert.equal(sample(before, 'votemesh_stream_length'), 3);
    assert.equal(sample(before, 'votemesh_stream_pending'), 3);

    await proxy.cut();
    const down = await waitFor(
      async () => {
        const metrics = await probe(`${worker.url}/metrics`);
        return metrics.status === 200 && sample(metrics.body, 'votemesh_stream_stats_up') === 0 && metrics;
      },
      { what: 'a scrape that reports the stream gauges stale' },
    );
    assert.ok(down.ms < 2500, `scrape answered in ${down.ms} ms`);
    assert.equal(sample(down.body, 'votemesh_stream_length'), 3, 'the last value read stays');
    assert.equal(sample(down.body, 'votemesh_stream_pending'), 3, 'the last value read stays');
    assert.ok((sample(down.body, 'votemesh_stream_stats_errors_total') ?? 0) >= 1);
    // Redis is reported, not required (TallyService reads PostgreSQL only): still ready, and it says
    // so at once (each answer fast; a run of the checks from before the cut may be answered again
    // for up to READINESS_REUSE_MS, common/src/readiness.ts).
    let slowest = 0;
    const readyz = await waitFor(
      async () => {
        const answer = await probe(`${worker.url}/readyz`);
        slowest = Math.max(slowest, answer.ms);
        return /"name":"redis","ok":false/.test(answer.body) && answer;
      },
      { timeoutMs: 5000, what: '/readyz to report redis down' },
    );
    assert.equal(readyz.status, 200);
    assert.ok(slowest < 2500, `/readyz answered in ${slowest} ms`);

    // Every connection (commands, probes, both lane readers; the worker's bus subscriber connects only
    // once something subscribes, which nothing here does) has failed more than once.
    const connections = ['commands', 'probes', 'reader outage#0', 'reader outage#1'];
    await waitFor(
      () =>
        connections.every((connection) =>
          worker.logs.some((line) => line['connection'] === connection && typeof line['errors'] === 'number' && line['errors'] >= 2),
        ),
      {
        timeoutMs: 20_000,
        what: `repeated connection errors on every connection; ${JSON.stringify(worker.logs.filter((l) => l['connection'] !== undefined).map((l) => [l['connection'], l['errors'], l['msg']]))}`,
      },
    );
    for (const connection of connections) {
      const warnings = worker.logs.filter((line) => line['connection'] === connection && line['level'] === 40);
      assert.equal(warnings.length, 1, `one warning for ${connection}`);
    }
    assert.doesNotMatch(worker.stderr(), /Unhandled error event/);

    await proxy.restore();
    await waitFor(
      async () => {
        const metrics = await probe(`${worker.url}/metrics`);
        return sample(metrics.body, 'votemesh_stream_stats_up') === 1;
      },
      { timeoutMs: 20_000, what: 'stream gauges read again' },
    );
    await waitFor(async () => /"name":"redis","ok":true/.test((await probe(`${worker.url}/readyz`)).body), {
      timeoutMs: 20_000,
      what: 'redis reported up again',
    });
    await waitFor(
      () => connections.every((connection) => worker.logs.some((line) => line['connection'] === connection && line['msg'] === 'redis connection restored')),
      {
        what: 'every connection restored',
      },
    );
    assert.deepEqual(await worker.kill('SIGTERM'), { code: 0, signal: null });
  });
});
