// The audit client's Redis spool (common/src/grpc/audit-spool.ts) against the real audit server and
// Redis: events recorded while the audit service is away survive the sender's restart and arrive
// exactly once; memory stays bounded (the overflow waits in the spool); two senders adopting the
// same spool still write each event once; the metrics say what happened.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditClient, type AuditClient } from '@votemesh/common/grpc/audit-client';
import type { AuditClientOptions } from '@votemesh/common/grpc/audit-client-options';
import { connectAuditClient } from '@votemesh/common/grpc/connect-audit-client';
import { DEFAULT_GRPC_KEEPALIVE } from '@votemesh/common/config';
import { createShutdownStack } from '@votemesh/common/lifecycle';
import { toAuditEntry } from '@votemesh/common/grpc/audit-outbox';
import { auditSpoolKey, createRedisAuditSpool, spoolMember, type AuditSpool } from '@votemesh/common/grpc/audit-spool';
import { createLogger } from '@votemesh/common/logger';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { deleteRedisPrefix } from '@votemesh/common/testing/redis';
import { startSwitchableRelay, type SwitchableRelay } from '@votemesh/common/testing/switchable-relay';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createAuditStore } from '../src/store.ts';
import { makeDraft, REDIS_URL, startHarness, testRedisPrefix, type Harness } from './harness.ts';
import { createHold } from '@votemesh/common/testing/hold';

const logger = createLogger({ service: 'audit-spool-test', level: 'error' });

describe('audit client with a Redis spool', () => {
  let h: Harness;
  let redis: Redis;
  let relay: SwitchableRelay;
  const prefix = testRedisPrefix();
  const clients: AuditClient[] = [];

  before(async () => {
    h = await startHarness({ appendMaxDelayMs: 5 });
    redis = new Redis(REDIS_URL);
    // The senders reach the audit service through a relay the test switches off and on.
    relay = await startSwitchableRelay(h.audit.grpcAddress);
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await relay?.[Symbol.asyncDispose]();
    if (redis) await deleteRedisPrefix(redis, prefix);
    redis?.disconnect();
    await h?.[Symbol.asyncDispose]();
  });

  // A test that takes the audit service away gives it back, whatever happened.
  afterEach(() => relay.up());

  function sender(spool: AuditSpool, registry: Registry, options: Partial<AuditClientOptions> = {}): AuditClient {
    const client = createAuditClient({
      address: relay.address,
      logger,
      source: 'test',
      spool,
      registry,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      closeTimeoutMs: 100,
      spoolAdoptEveryMs: 50,
      spoolAdoptAfterMs: 0,
      ...options,
    });
    clients.push(client);
    return client;
  }

  async function metric(registry: Registry, pattern: RegExp): Promise<number> {
    return Number(pattern.exec(await registry.metrics())?.[1] ?? Number.NaN);
  }

  async function storedIds(ids: readonly string[]): Promise<string[]> {
    const rows = await h.prisma.auditEvent.findMany({ where: { eventId: { in: [...ids] } }, select: { eventId: true } });
    return rows.map((row) => row.eventId).sort();
  }

  it('keeps what the audit service did not confirm across a restart and delivers it once', async () => {
    const spool = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'restart'));
    relay.down();
    const firstRegistry = createMetricsRegistry('sender');
    const first = sender(spool, firstRegistry);
    const drafts = Array.from({ length: 40 }, () => makeDraft());
    for (const draft of drafts) first.record(draft);
    await first.persisted();
    assert.equal(await spool.size(), 40, 'every recorded event is in the spool');
    assert.equal(await metric(firstRegistry, /^votemesh_audit_client_buffered\{[^}]*\} (\d+)$/m), 40);
    assert.equal(await metric(firstRegistry, /^votemesh_audit_client_spooled\{[^}]*\} (\d+)$/m), 40);
    await waitFor(() => first.stats().callsFailed >= 1, { what: 'the first send to fail' });
    // The process goes away before the audit service is back (close gives up after 100 ms).
    await first.close();
    assert.equal(await spool.size(), 40, 'nothing confirmed, nothing removed');

    relay.up();
    const registry = createMetricsRegistry('sender');
    const second = sender(spool, registry);
    await waitFor(async () => (await spool.size()) === 0, { what: 'the spool to drain' });
    assert.deepEqual(await storedIds(drafts.map((draft) => draft.eventId)), drafts.map((draft) => draft.eventId).sort());
    assert.equal(await metric(registry, /^votemesh_audit_client_resent_total\{cause="spool",[^}]*\} (\d+)$/m), 40);
    assert.equal(second.stats().buffered, 0);
    const verification = await createAuditStore(h.prisma, h.pool).verify();
    assert.equal(verification.ok, true, verification.reason ?? '');
  });

  it('bounds memory: the overflow waits in the spool (metered) and is sent once there is room', async () => {
    const spool = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'bounded'));
    relay.down();
    const registry = createMetricsRegistry('sender');
    const client = sender(spool, registry, { maxBuffered: 10 });
    const drafts = Array.from({ length: 25 }, () => makeDraft());
    for (const draft of drafts) client.record(draft);
    await waitFor(() => client.stats().overflowed === 15, { what: '15 events to overflow into the spool' });
    assert.equal(client.stats().buffered, 10, 'memory holds maxBuffered');
    assert.equal(client.stats().dropped, 0);
    assert.equal(await spool.size(), 25);
    assert.equal(await metric(registry, /^votemesh_audit_client_overflowed_total\{[^}]*\} (\d+)$/m), 15);

    relay.up();
    await waitFor(async () => (await spool.size()) === 0, { what: 'the spool to drain', timeoutMs: 20_000 });
    assert.equal((await storedIds(drafts.map((draft) => draft.eventId))).length, 25);
    assert.equal(await metric(registry, /^votemesh_audit_client_dropped_total\{[^}]*\} (\d+)$/m), Number.NaN, 'nothing dropped');
  });

  /** The Redis spool, with saves that fail on demand (READONLY after a failover) and can be held back. */
  function flakySpool(real: AuditSpool) {
    let failing = 0;
    const saves = createHold();
    const spool: AuditSpool = {
      ...real,
      async save(members) {
        const fail = failing > 0;
        if (fail) failing -= 1;
        await saves.passage();
        if (fail) throw new Error("READONLY You can't write against a read only replica.");
        await real.save(members);
      },
    };
    return {
      spool,
      failNextSaves(count: number) {
        failing = count;
      },
      /** Saves wait until the returned function is called. */
      holdSaves: (): (() => void) => saves.hold(),
    };
  }

  it('a retried persisted() does not pass until the events whose spool write failed are in Redis', async () => {
    const real = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'retry'));
    const flaky = flakySpool(real);
    relay.down();
    const client = sender(flaky.spool, createMetricsRegistry('sender'), { spoolAdoptEveryMs: 60_000 });
    const drafts = Array.from({ length: 5 }, () => makeDraft());
    const ids = drafts.map((draft) => draft.eventId);
    flaky.failNextSaves(1);
    for (const draft of drafts) client.record(draft);
    await assert.rejects(client.persisted(ids), /could not be written/);
    assert.equal(await real.size(), 0);
    // The settle is retried: the same events are recorded again (held already) and waited for.
    for (const draft of drafts) client.record(draft);
    await client.persisted(ids);
    assert.equal(await real.size(), 5, 'the retry passed only once Redis had the events');
    assert.equal(client.stats().spoolErrors, 1);
  });

  it('writes a failed spool write again on its own, without the event being recorded again (metered meanwhile)', async () => {
    const spool = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'self-retry'));
    relay.down();
    // A key of the wrong type makes Redis refuse the ZADD (WRONGTYPE), as READONLY or OOM would.
    await redis.set(spool.key, 'not a sorted set');
    const registry = createMetricsRegistry('sender');
    const client = sender(spool, registry, { spoolAdoptEveryMs: 60_000, spoolRetryMs: 50 });
    const draft = makeDraft();
    client.record(draft);
    await waitFor(() => client.stats().spoolErrors >= 1, { what: 'the spool write to fail' });
    assert.equal(client.stats().unspooled, 1, 'held in memory only');
    assert.equal(await metric(registry, /^votemesh_audit_client_unspooled\{[^}]*\} (\d+)$/m), 1);

    await redis.del(spool.key);
    await waitFor(async () => (await spool.size()) === 1, { what: 'the event written to the spool again by the client itself' });
    const [member] = await spool.load(0, 10, Date.now());
    assert.ok(member?.includes(draft.eventId));
    await waitFor(() => client.stats().unspooled === 0, { what: 'the client to see the write succeed' });
    assert.equal(await metric(registry, /^votemesh_audit_client_unspooled\{[^}]*\} (\d+)$/m), 0);
    assert.equal(client.stats().buffered, 1, 'still unconfirmed: the audit service is away');
  });

  it("one caller's failed spool write is neither cleared nor passed by another caller waiting meanwhile", async () => {
    const real = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'lanes'));
    const flaky = flakySpool(real);
    relay.down();
    const client = sender(flaky.spool, createMetricsRegistry('sender'), { spoolAdoptEveryMs: 60_000 });
    const laneA = Array.from({ length: 3 }, () => makeDraft());
    const laneB = Array.from({ length: 3 }, () => makeDraft());
    const release = flaky.holdSaves();
    flaky.failNextSaves(1);
    for (const draft of laneA) client.record(draft);
    // Lane A's ZADD is issued (and will fail) before lane B records.
    await new Promise((resolve) => setImmediate(resolve));
    for (const draft of laneB) client.record(draft);
    // Lane B asks first, so it would be the first to resume.
    const b = client.persisted(laneB.map((draft) => draft.eventId));
    const a = client.persisted(laneA.map((draft) => draft.eventId));
    release();
    const [aResult, bResult] = await Promise.allSettled([a, b]);
    assert.equal(aResult.status, 'rejected', "lane A's events are not in Redis: it must not ack");
    assert.equal(bResult.status, 'fulfilled', "lane B's events are in Redis");
    assert.equal(await real.size(), 3);
    for (const draft of laneA) client.record(draft);
    await client.persisted(laneA.map((draft) => draft.eventId));
    assert.equal(await real.size(), 6);
  });

  it('an event recorded while memory is full is waited for by persisted(), and its failed write reported', async () => {
    const real = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'overflow-fail'));
    const flaky = flakySpool(real);
    relay.down();
    const client = sender(flaky.spool, createMetricsRegistry('sender'), { maxBuffered: 2, spoolAdoptEveryMs: 60_000 });
    const held = [makeDraft(), makeDraft()];
    for (const draft of held) client.record(draft);
    await client.persisted();
    const overflow = makeDraft();
    flaky.failNextSaves(1);
    client.record(overflow);
    await assert.rejects(client.persisted([overflow.eventId]), /could not be written/);
    assert.equal(client.stats().dropped, 1, 'kept nowhere: dropped and counted');
    assert.equal(client.stats().overflowed, 0);
    // Recorded again (a retried settle): this time the spool takes it, and persisted() waits for that.
    const release = flaky.holdSaves();
    client.record(overflow);
    const persisted = client.persisted([overflow.eventId]);
    let done = false;
    void persisted.then(() => {
      done = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'not before the ZADD answered');
    release();
    await persisted;
    assert.equal(await real.size(), 3);
    assert.equal(client.stats().overflowed, 1);
    assert.equal(client.stats().buffered, 2);
  });

  it('reads the spooled gauge on the fail-fast connection: a scrape during a Redis outage queues no ZCARD', async () => {
    // The worker's shape: a command connection that waits out a Redis restart (offline queue, endless
    // retries) and a fail-fast one for probes, both reaching Redis through a relay the test cuts.
    const redisRelay = await startSwitchableRelay(new URL(REDIS_URL).host, { up: true });
    const commands = new Redis(`redis://${redisRelay.address}`, { maxRetriesPerRequest: null });
    const probes = commands.duplicate({ lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 });
    for (const connection of [commands, probes]) connection.on('error', () => {});
    await probes.connect();
    const shutdown = createShutdownStack(logger);
    const registry = createMetricsRegistry('sender');
    connectAuditClient({
      address: relay.address,
      source: 'gauge',
      keepalive: DEFAULT_GRPC_KEEPALIVE,
      redis: commands,
      sizeRedis: probes,
      redisPrefix: prefix,
      registry,
      logger,
      shutdown,
    });
    // ioredis keeps no public count of the commands it holds for a reconnect; this is the queue itself.
    const offlineQueued = () => (commands as unknown as { offlineQueue: { length: number } }).offlineQueue.length;
    try {
      assert.equal(await metric(registry, /^votemesh_audit_client_spooled\{[^}]*\} (\d+)$/m), 0);
      redisRelay.down();
      await waitFor(() => commands.status !== 'ready' && probes.status !== 'ready', { what: 'both connections to notice Redis is gone' });
      const queuedBefore = offlineQueued();
      for (let scrape = 0; scrape < 3; scrape += 1) {
        const started = performance.now();
        const text = await registry.metrics();
        assert.ok(performance.now() - started < 900, 'the scrape did not wait out the read timeout');
        assert.match(text, /^votemesh_audit_client_spooled\{[^}]*\} NaN$/im, 'an unknown size, not 0 ("empty")');
      }
      // (The adopter's next round is 10 s away: nothing else queues meanwhile.)
      assert.equal(offlineQueued(), queuedBefore, 'no ZCARD left waiting for Redis to come back');
    } finally {
      redisRelay.up();
      await shutdown.shutdown('test over');
      commands.disconnect();
      probes.disconnect();
      await redisRelay[Symbol.asyncDispose]();
    }
  });

  it("a staged event, spooled by the caller's own transaction, is sent once and removed, never written by the client", async () => {
    const real = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'staged'));
    let saves = 0;
    const spool: AuditSpool = {
      ...real,
      async save(members) {
        saves += 1;
        await real.save(members);
      },
    };
    const client = sender(spool, createMetricsRegistry('sender'), { spoolAdoptEveryMs: 60_000 });
    const draft = makeDraft();
    const staged = client.stage(draft);
    const write = staged.spoolWrite;
    assert.ok(write);
    assert.equal(write.key, real.key);
    // The caller's transaction (castVote's MULTI) carries the ZADD with its own writes.
    await redis.multi().set(`${prefix}staged:other-write`, '1').zadd(write.key, write.score, write.member).exec();
    staged.record(true);
    await client.persisted([draft.eventId]);
    await client.flush();
    assert.deepEqual(await storedIds([draft.eventId]), [draft.eventId]);
    await waitFor(async () => (await real.size()) === 0, { what: 'the confirmed event removed from the spool' });
    assert.equal(saves, 0, 'the client did not write it to the spool itself');
    // Without the spool write (the transaction's ZADD failed), record(false) writes it like record().
    const fallback = makeDraft();
    client.stage(fallback).record(false);
    await client.persisted([fallback.eventId]);
    assert.equal(saves, 1);
  });

  it('two senders adopting one spool write each event once', async () => {
    const spool = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'shared'));
    const drafts = Array.from({ length: 30 }, () => makeDraft());
    // Left by a sender that was SIGKILLed while the audit service was away: in the spool, held by nobody.
    await spool.save(drafts.map((draft) => ({ member: spoolMember(toAuditEntry(0, draft).message), at: Date.now() })));
    const a = sender(spool, createMetricsRegistry('a'));
    const b = sender(spool, createMetricsRegistry('b'));
    await waitFor(async () => (await spool.size()) === 0, { what: 'the spool to drain', timeoutMs: 20_000 });
    await waitFor(() => a.stats().buffered + b.stats().buffered === 0, { what: 'every sender to see confirmations' });
    assert.equal((await storedIds(drafts.map((draft) => draft.eventId))).length, 30);
    const rows = await h.prisma.auditEvent.groupBy({ by: ['eventId'], where: { eventId: { in: drafts.map((draft) => draft.eventId) } }, _count: true });
    assert.ok(
      rows.every((row) => row._count === 1),
      'each event once',
    );
  });
});
