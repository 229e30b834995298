// The audit client's Redis spool (common/src/grpc/audit-spool.ts) against the real audit server and
// Redis: events recorded while the audit service is away survive the sender's restart and arrive
// exactly once; memory stays bounded (the overflow waits in the spool); two senders adopting the
// same spool still write each event once; the metrics say what happened.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditClient, type AuditClient } from '@votemesh/common/grpc/audit-client';
import type { AuditClientOptions } from '@votemesh/common/grpc/audit-client-options';
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
