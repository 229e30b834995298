// The append path against the real database: through AuditIngest end to end, and the store itself
// as two replicas would use it (one pool each) appending overlapping batches at the same time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createDatabasePool, createPrismaClient } from '@votemesh/common/db/client';
import type { ChainedContent } from '../src/chain.ts';
import { createAuditStore, type StoredEvent } from '../src/store.ts';
import { makeEvent, startHarness, type Harness } from './harness.ts';

let counter = 0;
function content(overrides: Partial<ChainedContent> = {}): ChainedContent {
  counter += 1;
  return {
    eventId: randomUUID(),
    at: new Date(Date.UTC(2030, 0, 1, 0, 0, 0, counter % 1000)).toISOString(),
    actor: 'system:test',
    action: 'vote.counted',
    subjectType: 'Vote',
    subjectId: `r${counter}`,
    pollId: counter % 2 === 0 ? randomUUID() : null,
    traceId: counter % 3 === 0 ? null : 'trace',
    data: { n: counter, nested: { b: [1, 'x'], a: null } },
    ...overrides,
  };
}

describe('AuditIngest → hash chain', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  it('appends events and the chain verifies', async () => {
    const pollId = randomUUID();
    const events = [makeEvent({ poll_id: pollId, trace_id: 'abc' }), makeEvent(), makeEvent({ data_json: '' })];
    const summary = await h.record(events);
    assert.equal(summary.accepted, '3');
    assert.equal(summary.duplicates, '0');
    const rows = await h.prisma.auditEvent.findMany({ orderBy: { seq: 'asc' } });
    assert.equal(rows.length, 3);
    assert.equal(rows[0]?.prevHash, '0'.repeat(64));
    assert.equal(rows[0]?.pollId, pollId);
    assert.equal(rows[1]?.prevHash, rows[0]?.hash);
    assert.equal(rows[1]?.pollId, null);
    assert.deepEqual(rows[2]?.data, {});
  });

  it('keeps one chain, each event once, when two replicas append overlapping batches at the same time', async () => {
    const otherPool = createDatabasePool(h.db.url);
    const otherPrisma = createPrismaClient(otherPool);
    try {
      const replicas = [createAuditStore(h.prisma, h.pool), createAuditStore(otherPrisma, otherPool)];
      const events = Array.from({ length: 600 }, () => content());
      // Replica 0 gets events 0–399, replica 1 events 200–599 (a sender's resend landing elsewhere),
      // in batches of 50 that also repeat their first event.
      const shares = [events.slice(0, 400), events.slice(200)];
      const results = await Promise.all(
        replicas.map(async (store, index) => {
          const appended: StoredEvent[] = [];
          let duplicates = 0;
          const share = shares[index] ?? [];
          for (let start = 0; start < share.length; start += 50) {
            const batch = share.slice(start, start + 50);
            const result = await store.append([...batch, ...batch.slice(0, 1)]);
            // Each append returns its events in chain order with increasing seqs.
            for (const [position, event] of result.appended.entries()) {
              const previous = result.appended[position - 1];
              if (previous) assert.ok(event.prevHash === previous.hash && event.seq > previous.seq, `order at ${event.seq}`);
            }
            appended.push(...result.appended);
            // Skipped as already recorded (a repeat inside the batch is reported too, and appended once).
            const appendedIds = new Set(result.appended.map((event) => event.eventId));
            duplicates += [...result.duplicates].filter((eventId) => !appendedIds.has(eventId)).length;
          }
          return { appended, duplicates };
        }),
      );
      const appended = results.flatMap((result) => result.appended);
      assert.equal(appended.length, 600, 'every event appended once across both replicas');
      assert.equal(new Set(appended.map((event) => event.eventId)).size, 600);
      // Each call's distinct ids are either appended by it or already recorded: 800 offered, 600 appended.
      assert.equal(
        results.reduce((sum, result) => sum + result.duplicates, 0),
        200,
      );

      // What append returned is what is stored: the same seq, links and hash per event id; and
      // verify (which walks seq order) finds every link, so seq order is chain order.
      const rows = await h.prisma.auditEvent.findMany({ where: { eventId: { in: events.map((event) => event.eventId) } } });
      const stored = new Map(rows.map((row) => [row.eventId, row]));
      for (const event of appended) {
        const row = stored.get(event.eventId);
        assert.deepEqual([row?.seq, row?.prevHash, row?.hash], [event.seq, event.prevHash, event.hash], `event ${event.eventId}`);
      }
      const verification = await replicas[1]?.verify();
      assert.equal(verification?.ok, true, verification?.reason ?? '');
    } finally {
      await otherPrisma.$disconnect();
      await otherPool.end();
    }
  });

  it('rolls a failed append back and leaves the chain and the pool usable', async () => {
    const store = createAuditStore(h.prisma, h.pool);
    const good = content();
    await assert.rejects(store.append([good, content({ eventId: 'not-a-uuid' })]), /uuid/i);
    assert.equal(await h.prisma.auditEvent.count({ where: { eventId: good.eventId } }), 0, 'nothing of the failed batch is written');
    // Far more appends than the pool has connections: a connection leaked by the failure would stall here.
    for (let round = 0; round < 12; round += 1) {
      const result = await store.append([content()]);
      assert.equal(result.appended.length, 1);
    }
    const result = await store.append([good]);
    assert.equal(result.appended[0]?.eventId, good.eventId);
    assert.equal((await store.verify()).ok, true);
  });
});
