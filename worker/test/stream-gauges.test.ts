// The stream gauges as a scrape reads them from a real Redis. votemesh_stream_lag is unknown when
// Redis cannot tell (XINFO GROUPS answers a null lag once an undelivered entry was deleted, and
// there is no lag before the group exists): then it is NaN, as every gauge here that is unknown
// at scrape time, never a number such as -1 that `avg`, `deriv` or a dashboard would take for a
// backlog.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { METRICS } from '@votemesh/common/telemetry/names';
import { deleteRedisPrefix, testRedisPrefix } from '@votemesh/common/testing/redis';
import { registerStreamGauges } from '../src/metrics.ts';
import type { StreamRef } from '../src/stream.ts';
import { REDIS_URL } from './support/harness.ts';

const prefix = testRedisPrefix();
let redis: Redis;
before(() => {
  redis = new Redis(REDIS_URL);
});
after(async () => {
  await deleteRedisPrefix(redis, prefix);
  redis.disconnect();
});

/** One scrape of fresh gauges over `stream`: each metric's single value. */
async function scrape(stream: StreamRef): Promise<Map<string, number>> {
  const registry = new Registry();
  registerStreamGauges(registry, redis, stream);
  const metrics = await registry.getMetricsAsJSON();
  return new Map(metrics.map((metric) => [metric.name, Number(metric.values[0]?.value)]));
}

/** A stream of three entries and a group that has read none of them. */
async function threeUndelivered(name: string): Promise<StreamRef & { ids: string[] }> {
  const stream = { key: `${prefix}${name}`, group: 'tally' };
  const ids: string[] = [];
  for (let i = 0; i < 3; i += 1) ids.push(String(await redis.xadd(stream.key, '*', 'v', String(i))));
  await redis.xgroup('CREATE', stream.key, stream.group, '0');
  return { ...stream, ids };
}

describe('stream gauges', () => {
  it('report the lag Redis knows', async () => {
    const stream = await threeUndelivered('known');
    const values = await scrape(stream);
    assert.equal(values.get(METRICS.streamStatsUp.name), 1);
    assert.equal(values.get(METRICS.streamLength.name), 3);
    assert.equal(values.get(METRICS.streamPending.name), 0);
    assert.equal(values.get(METRICS.streamLag.name), 3);
  });

  it('report an unknown lag as NaN: an undelivered entry was deleted', async () => {
    const stream = await threeUndelivered('tombstone');
    await redis.xdel(stream.key, stream.ids[1] ?? '');
    const values = await scrape(stream);
    assert.equal(values.get(METRICS.streamStatsUp.name), 1, 'the read succeeded: only the lag is unknown');
    assert.equal(values.get(METRICS.streamLength.name), 2);
    assert.ok(Number.isNaN(values.get(METRICS.streamLag.name)), `lag is NaN, got ${values.get(METRICS.streamLag.name)}`);
  });

  it('report an unknown lag as NaN: the group does not exist yet', async () => {
    const stream = { key: `${prefix}no-group`, group: 'tally' };
    await redis.xadd(stream.key, '*', 'v', '0');
    const values = await scrape(stream);
    assert.equal(values.get(METRICS.streamLength.name), 1);
    assert.ok(Number.isNaN(values.get(METRICS.streamLag.name)), `lag is NaN, got ${values.get(METRICS.streamLag.name)}`);
  });
});
