import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { deleteRedisPrefix, testRedisPrefix } from '../src/testing/redis.ts';

const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
after(() => redis.disconnect());

describe('test Redis prefixes', () => {
  it('hands out distinct vmtest: prefixes', () => {
    const prefixes = new Set(Array.from({ length: 100 }, testRedisPrefix));
    assert.equal(prefixes.size, 100);
    for (const prefix of prefixes) assert.match(prefix, /^vmtest:[0-9a-f]{12}:$/);
  });

  it('deletes every key of its prefix, across SCAN pages, and none of a neighbour that starts alike', async () => {
    const mine = testRedisPrefix();
    const neighbour = `${mine.slice(0, -1)}x:`;
    const pipeline = redis.pipeline();
    for (let i = 0; i < 12_000; i++) pipeline.set(`${mine}k${i}`, '1');
    pipeline.xadd(`${mine}votes`, '*', 'vote', '{}');
    pipeline.set(`${neighbour}kept`, '1');
    await pipeline.exec();

    assert.equal(await deleteRedisPrefix(redis, mine), 12_001);
    const [, left] = await redis.scan('0', 'MATCH', `${mine}*`, 'COUNT', 100_000);
    assert.deepEqual(left, []);
    assert.equal(await redis.get(`${neighbour}kept`), '1');
    assert.equal(await deleteRedisPrefix(redis, neighbour), 1);
  });

  it('refuses a prefix without its closing separator', async () => {
    await assert.rejects(deleteRedisPrefix(redis, 'vmtest:ab'), /refusing to delete keys under "vmtest:ab"/);
  });
});
