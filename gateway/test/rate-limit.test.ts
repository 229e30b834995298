// Fixed-window rate limiting: 429 + RATE_LIMITED + Retry-After through the gateway with real
// Redis counters, per client; the in-memory twin and the fail-open path as units.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  createBatchedRedisRateLimitCounter,
  createMemoryRateLimitCounter,
  createRateLimiter,
  createRedisRateLimitCounter,
  type RateLimitCounter,
} from '../src/limits/rate-limit.ts';
import { startProductsSubgraph, startReviewsSubgraph, composeTestSupergraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { bearer, requestToken, startTestGateway, type TestGateway, withinOneRateWindow } from './helpers/test-gateway.ts';

const silent = { warn: () => {} };

describe('rate limit through the gateway (Redis counters)', () => {
  const prefix = `vmtest:${randomUUID()}:`;
  let redis: Redis;
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;

  before(async () => {
    redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    products = await startProductsSubgraph({ withAuth: true });
    reviews = await startReviewsSubgraph();
    gateway = await startTestGateway(
      composeTestSupergraph([products, reviews]),
      { RATE_LIMIT_PER_MINUTE: '3', REDIS_PREFIX: prefix },
      { rateLimitCounter: createRedisRateLimitCounter(redis) },
    );
  });
  after(async () => {
    await gateway?.close();
    await products?.close();
    await reviews?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('answers the request over the limit with 429, RATE_LIMITED and Retry-After, per client', async () => {
    await withinOneRateWindow();
    // The first /auth/token calls count against the anonymous address window of the token endpoint, not /graphql.
    const alice = (await requestToken(gateway.url)).body['token'];
    const bob = (await requestToken(gateway.url)).body['token'];
    const query = { query: '{ topProducts(first: 1) { name } }' };
    for (let i = 0; i < 3; i++) assert.equal((await gateway.graphql(query, bearer(alice))).status, 200);
    const limited = await gateway.graphql(query, bearer(alice));
    assert.equal(limited.status, 429);
    assert.equal(limited.body.errors?.[0]?.extensions?.['code'], 'RATE_LIMITED');
    assert.match(limited.body.errors?.[0]?.message ?? '', /^Rate limit of 3 requests per minute exceeded; retry in \d+ s$/);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((await gateway.graphql(query, bearer(bob))).status, 200, 'another client has its own window');
    const keys = await redis.keys(`${prefix}rl:sub:*`);
    assert.equal(keys.length, 2, 'one counter per subject in Redis under the prefix');
  });
});

describe('createRateLimiter', () => {
  it('counts per client per fixed window and opens the next window', async () => {
    let now = 120_000;
    const counter = createMemoryRateLimitCounter(() => now);
    const limiter = createRateLimiter({ limit: 2, counter, keyFor: (client, start) => `${client}:${start}`, logger: silent, now: () => now });
    assert.deepEqual(await limiter.consume('a'), { allowed: true, limit: 2, remaining: 1 });
    assert.deepEqual(await limiter.consume('a'), { allowed: true, limit: 2, remaining: 0 });
    now += 15_000;
    assert.deepEqual(await limiter.consume('a'), { allowed: false, limit: 2, retryAfterSeconds: 45 });
    assert.equal((await limiter.consume('b')).allowed, true);
    now = 180_000;
    assert.equal((await limiter.consume('a')).allowed, true);
  });

  it('lets requests through when the counter store fails, and says so once', async () => {
    const warnings: unknown[] = [];
    const broken: RateLimitCounter = { increment: () => Promise.reject(new Error('redis down')) };
    const limiter = createRateLimiter({ limit: 1, counter: broken, keyFor: (client) => client, logger: { warn: (obj: unknown) => warnings.push(obj) } });
    assert.equal((await limiter.consume('a')).allowed, true);
    assert.equal((await limiter.consume('a')).allowed, true);
    assert.equal(warnings.length, 1);
  });

  it('is disabled with a limit of 0', async () => {
    const limiter = createRateLimiter({ limit: 0, counter: createMemoryRateLimitCounter(), keyFor: (client) => client, logger: silent });
    assert.equal(limiter.enabled, false);
    assert.equal((await limiter.consume('a')).allowed, true);
  });
});

describe('createBatchedRedisRateLimitCounter (two replicas, one Redis)', () => {
  const prefix = `vmtest:${randomUUID()}:`;
  let redis: Redis;
  before(() => {
    redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("sends the first hit at once, batches the rest, and learns the other replicas' hits at each sync", async () => {
    const key = `${prefix}rl:sub:carol:0`;
    const a = createBatchedRedisRateLimitCounter(redis, { syncMs: 60_000 });
    const b = createBatchedRedisRateLimitCounter(redis, { syncMs: 60_000 });
    try {
      assert.equal(await a.increment(key, 60_000), 1);
      assert.equal(await redis.get(key), '1', 'the first hit is in Redis before it is answered');
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 60_000 && ttl <= 61_000, `the key expires after its window (${ttl} ms)`);
      assert.equal(await a.increment(key, 60_000), 2);
      assert.equal(await a.increment(key, 60_000), 3);
      assert.equal(await redis.get(key), '1', 'later hits wait for the sync');
      assert.equal(await b.increment(key, 60_000), 2, 'the other replica starts from what Redis has');
      await a.sync();
      assert.equal(await redis.get(key), '4');
      assert.equal(await a.increment(key, 60_000), 5, "a learned b's hit");
      await Promise.all([a.sync(), b.sync()]);
      assert.equal(await redis.get(key), '5');
      assert.equal(await b.increment(key, 60_000), 3, 'b had nothing to sync, so it still counts from what Redis said at its first hit (2)');
      await b.sync();
      assert.equal(await b.increment(key, 60_000), 7);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    assert.equal(await redis.get(key), '7', 'close() flushes pending hits');
  });

  it('limits exactly within one replica', async () => {
    const counter = createBatchedRedisRateLimitCounter(redis, { syncMs: 10 });
    const limiter = createRateLimiter({ limit: 3, counter, keyFor: (client, windowStart) => `${prefix}rl:${client}:${windowStart}`, logger: silent });
    try {
      const decisions = [];
      for (let i = 0; i < 5; i++) decisions.push((await limiter.consume('dave')).allowed);
      assert.deepEqual(decisions, [true, true, true, false, false]);
    } finally {
      await counter.close();
    }
  });
});
