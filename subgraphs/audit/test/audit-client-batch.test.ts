// createAuditClient's RecordBatch path against the real audit subgraph and PostgreSQL: how events
// pack into messages, a refused event inside a batch, a stream lost in the middle of a message or
// after its commit (each event still lands exactly once), and an audit service from before
// RecordBatch (the client falls back to Record).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { AuditEventDraft } from '@votemesh/common/contracts/audit';
import { createAuditClient, type AuditClient, type AuditClientOptions } from '@votemesh/common/grpc/audit-client';
import { loadAuditProto } from '@votemesh/common/grpc/load';
import { createLogger } from '@votemesh/common/logger';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createAppender } from '../src/appender.ts';
import { createIngestHandlers } from '../src/ingest.ts';
import { createAuditMetrics } from '../src/metrics.ts';
import { createAuditStore } from '../src/store.ts';
import { makeDraft, startHarness, type Harness } from './harness.ts';
import { startCuttingRelay } from './relay.ts';

const logger = createLogger({ service: 'audit-client-batch-test', level: 'silent' });

function drafts(count: number, overrides: Partial<AuditEventDraft> = {}): AuditEventDraft[] {
  return Array.from({ length: count }, () => makeDraft(overrides));
}

describe('createAuditClient over RecordBatch', () => {
  let h: Harness;
  const clients: AuditClient[] = [];
  before(async () => {
    h = await startHarness({ appendMaxDelayMs: 5 });
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await h?.[Symbol.asyncDispose]();
  });

  function client(options: Partial<AuditClientOptions> = {}): AuditClient {
    const created = createAuditClient({ address: h.audit.grpcAddress, logger, source: 'test', backoffInitialMs: 20, backoffMaxMs: 200, ...options });
    clients.push(created);
    return created;
  }

  function record(sink: AuditClient, events: readonly AuditEventDraft[]): void {
    for (const event of events) sink.record(event);
  }

  /** How many rows each event id has in the log (0 when absent). */
  async function storedTimes(events: readonly AuditEventDraft[]): Promise<number[]> {
    const rows = await h.prisma.auditEvent.findMany({
      where: { eventId: { in: events.map((event) => event.eventId.toLowerCase()) } },
      select: { eventId: true },
    });
    return events.map((event) => rows.filter((row) => row.eventId === event.eventId.toLowerCase()).length);
  }

  async function duplicatesCounted(): Promise<number> {
    const text = await (await fetch(`${h.audit.url}/metrics`)).text();
    return Number(/^votemesh_audit_events_duplicate_total\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
  }

  it('packs events recorded together into few messages, bounded by count', async () => {
    const sink = client({ maxBatchEvents: 100 });
    const events = drafts(250);
    record(sink, events);
    await sink.flush(10_000);
    assert.deepEqual(await storedTimes(events), Array(250).fill(1));
    const stats = sink.stats();
    assert.deepEqual([stats.messagesSent, stats.callsOpened, stats.confirmed, stats.buffered], [3, 1, 250, 0]);
  });

  it('…and by bytes (3 per UTF-16 code unit): a message never grows past maxBatchBytes', async () => {
    // ~10,170 code units each, so ~30.5 kB counted: three fit in 100 kB, four do not.
    const sink = client({ maxBatchBytes: 100_000 });
    const events = drafts(10, { data: { pad: 'x'.repeat(10_000) } });
    record(sink, events);
    await sink.flush(10_000);
    assert.deepEqual(await storedTimes(events), Array(10).fill(1));
    assert.equal(sink.stats().messagesSent, 4);
  });

  it('sends a lone event within batchDelayMs without being flushed', async () => {
    const sink = client({ batchDelayMs: 50, rotateEveryMs: 100 });
    const event = makeDraft();
    sink.record(event);
    await waitFor(() => sink.stats().confirmed === 1, { what: 'the lone event to be sent and confirmed' });
    assert.deepEqual(await storedTimes([event]), [1]);
    assert.equal(sink.stats().messagesSent, 1);
  });

  it('drops exactly the refused events of a batch and delivers the others of it once', async () => {
    const sink = client();
    const good = drafts(3);
    // The second one's id is upper case: the server names it in lower case, and by position.
    const bad = [makeDraft({ at: 'yesterday' }), makeDraft({ eventId: randomUUID().toUpperCase(), pollId: 'poll-1' })];
    record(
      sink,
      [good[0], bad[0], good[1], bad[1], good[2]].filter((event) => event !== undefined),
    );
    await sink.flush(10_000);
    const stats = sink.stats();
    assert.deepEqual([stats.rejected, stats.confirmed, stats.buffered, stats.dropped], [2, 3, 0, 0]);
    // One refusal per bad event, then one good call: nothing is resent in a loop.
    assert.equal(stats.callsFailed, 2);
    assert.deepEqual(await storedTimes(good), [1, 1, 1]);
    assert.deepEqual(await storedTimes(bad), [0, 0]);
  });

  it('resends a message cut off in the middle exactly once into the log', async () => {
    await using relay = await startCuttingRelay(h.audit.grpcAddress);
    const sink = client({ address: relay.address, rotateEveryMs: 60_000 });
    const warm = makeDraft();
    sink.record(warm);
    await sink.flush(10_000);
    const duplicatesBefore = await duplicatesCounted();

    // One message of ~200 × 1.1 kB; the connection is lost 50 kB into it.
    relay.cutAfter(50_000);
    const events = drafts(200, { data: { pad: 'y'.repeat(1000) } });
    record(sink, events);
    await sink.flush(20_000);
    assert.equal(relay.cut, true, 'the relay cut the connection mid-message');
    assert.ok(relay.connections >= 2, 'the client reconnected');
    const stats = sink.stats();
    assert.ok(stats.callsFailed >= 1);
    assert.deepEqual([stats.confirmed, stats.buffered, stats.rejected], [201, 0, 0]);
    assert.deepEqual(await storedTimes(events), Array(200).fill(1));
    assert.equal(await duplicatesCounted(), duplicatesBefore, 'nothing of the cut message had been written: the resend wrote it, once');
  });

  it('resends a committed but unconfirmed message after a lost stream; the log keeps each event once', async () => {
    await using relay = await startCuttingRelay(h.audit.grpcAddress);
    // The call stays open (no rotation, no flush), so its events are committed but not confirmed.
    const sink = client({ address: relay.address, rotateEveryMs: 60_000 });
    const events = drafts(300);
    const duplicatesBefore = await duplicatesCounted();
    record(sink, events);
    await waitFor(async () => (await storedTimes(events)).every((times) => times === 1), { what: 'the message to be committed' });
    assert.equal(sink.stats().confirmed, 0);
    relay.cutAfter(0);
    await sink.flush(20_000);
    const stats = sink.stats();
    assert.deepEqual([stats.callsFailed, stats.confirmed, stats.buffered], [1, 300, 0]);
    assert.deepEqual(await storedTimes(events), Array(300).fill(1));
    assert.equal(await duplicatesCounted(), duplicatesBefore + 300, 'the resend was recognised as duplicates');
  });

  it('falls back to Record against an audit service from before RecordBatch, refusals included', async () => {
    // The real ingest handlers with Record only, as an audit process before RecordBatch served.
    const appender = createAppender({
      store: createAuditStore(h.prisma, h.pool),
      metrics: createAuditMetrics(createMetricsRegistry('old')),
      logger,
      onAppended: () => {},
      maxDelayMs: 5,
    });
    const old = new Server();
    old.addService(loadAuditProto().votemesh.audit.v1.AuditIngest.service, {
      Record: createIngestHandlers({ appender, metrics: createAuditMetrics(createMetricsRegistry('old')), logger }).Record,
    });
    const port = await new Promise<number>((resolve, reject) =>
      old.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    try {
      const sink = client({ address: `127.0.0.1:${port}` });
      const good = drafts(4);
      const bad = makeDraft({ eventId: randomUUID().toUpperCase(), at: 'yesterday' });
      record(sink, [...good.slice(0, 2), bad, ...good.slice(2)]);
      await sink.flush(10_000);
      let stats = sink.stats();
      // UNIMPLEMENTED (no backoff: the service is healthy), then the refusal over Record, then success.
      assert.deepEqual([stats.callsFailed, stats.rejected, stats.confirmed, stats.buffered], [2, 1, 4, 0]);
      assert.deepEqual(await storedTimes([...good, bad]), [1, 1, 1, 1, 0]);

      // Later events go straight over Record, one message each, without asking RecordBatch again.
      const later = drafts(3);
      record(sink, later);
      await sink.flush(10_000);
      stats = sink.stats();
      assert.deepEqual([stats.callsFailed, stats.confirmed], [2, 7]);
      assert.deepEqual(await storedTimes(later), [1, 1, 1]);
    } finally {
      await new Promise<void>((resolve) => old.tryShutdown(() => resolve()));
      await appender.close();
    }
  });
});
