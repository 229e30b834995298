// AuditIngest.Record and RecordBatch against the real server and database: concurrent streams keep
// one chain, resends are ignored, and every kind of invalid message ends the call with
// INVALID_ARGUMENT (for a batch, naming the event's position; nothing of its message is written).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  AUDIT_INVALID_BATCH_INDEX_METADATA,
  AUDIT_INVALID_EVENT_ID_METADATA,
  AUDIT_INVALID_FIELD_METADATA,
  AUDIT_INVALID_MESSAGE_INDEX_METADATA,
} from '@votemesh/common/grpc/audit-client';
import type { AuditEventInput } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventInput';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { ADMIN, createIngestClient, makeEvent, openBatchCall, startHarness, type Harness } from './harness.ts';

async function verify(h: Harness): Promise<{ ok: boolean; checkedEvents: number; firstBrokenSeq: string | null; reason: string | null }> {
  const result = await h.graphql<{ verifyAuditLog: { ok: boolean; checkedEvents: number; firstBrokenSeq: string | null; reason: string | null } }>(
    '{ verifyAuditLog { ok checkedEvents firstBrokenSeq reason } }',
    {},
    ADMIN,
  );
  assert.equal(result.errors, undefined);
  assert.ok(result.data);
  return result.data.verifyAuditLog;
}

async function refusal(call: Promise<unknown>): Promise<ServiceError> {
  return call.then(
    () => assert.fail('the call should fail'),
    (failure: ServiceError) => failure,
  );
}

function assertNamesField(error: ServiceError, field: string, problem: string, bad: AuditEventInput | undefined): void {
  assert.equal(error.code, status.INVALID_ARGUMENT);
  assert.match(error.details, new RegExp(`field "${field}"`));
  assert.match(error.details, new RegExp(problem));
  assert.equal(error.metadata.get(AUDIT_INVALID_FIELD_METADATA)[0], field);
  if (field !== 'event_id') assert.equal(error.metadata.get(AUDIT_INVALID_EVENT_ID_METADATA)[0], bad?.event_id);
}

/** A data_json object holding `inner` 20 000 arrays deep (about 40 000 characters). */
function deeplyNested(inner: string): string {
  return `{"a":${'['.repeat(20_000)}${inner}${']'.repeat(20_000)}}`;
}

describe('AuditIngest.Record and RecordBatch', () => {
  let h: Harness;
  before(async () => {
    // Small batches so concurrent streams interleave across many append transactions.
    h = await startHarness({ appendMaxBatch: 50, appendMaxDelayMs: 5 });
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  function storedCount(events: readonly AuditEventInput[]): Promise<number> {
    return h.prisma.auditEvent.count({ where: { eventId: { in: events.map((event) => event.event_id ?? '') } } });
  }

  it('keeps one unbroken chain under three concurrent streams, on both calls', async () => {
    const streams = [0, 1, 2].map(() => Array.from({ length: 400 }, () => makeEvent()));
    // The third stream sends messages of 1, 2, 3 … events.
    const inBatches = (events: AuditEventInput[]): AuditEventInput[][] => {
      const batches: AuditEventInput[][] = [];
      for (let start = 0, size = 1; start < events.length; start += size, size += 1) batches.push(events.slice(start, start + size));
      return batches;
    };
    const summaries = await Promise.all(streams.map((events, index) => (index === 2 ? h.recordBatches(inBatches(events)) : h.record(events))));
    assert.deepEqual(
      summaries.map((summary) => summary.accepted),
      ['400', '400', '400'],
    );
    const rows = await h.prisma.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { seq: true, prevHash: true, hash: true } });
    assert.equal(rows.length, 1200);
    for (let i = 1; i < rows.length; i += 1) assert.equal(rows[i]?.prevHash, rows[i - 1]?.hash, `link at seq ${rows[i]?.seq}`);
    // Each summary's last_seq is a seq its stream really appended.
    for (const summary of summaries) assert.ok(rows.some((row) => row.seq.toString() === summary.last_seq));
    const verification = await verify(h);
    assert.deepEqual(verification, { ok: true, checkedEvents: 1200, firstBrokenSeq: null, reason: null });
  });

  it('ignores resent event ids, across calls and within one call', async () => {
    const events = [makeEvent(), makeEvent(), makeEvent()];
    const first = await h.record(events);
    assert.equal(first.accepted, '3');
    const again = await h.record([...events, events[0] ?? makeEvent(), makeEvent()]);
    assert.equal(again.accepted, '1');
    assert.equal(again.duplicates, '4');
    // Upper-case ids are the same UUIDs.
    const shouted = await h.record([{ ...events[1], event_id: events[1]?.event_id?.toUpperCase() ?? '' }]);
    assert.deepEqual([shouted.accepted, shouted.duplicates], ['0', '1']);
    const count = await h.prisma.auditEvent.count({ where: { eventId: { in: events.map((event) => event.event_id ?? '') } } });
    assert.equal(count, 3);
    assert.equal((await verify(h)).ok, true);
  });

  it('RecordBatch: appends each message as it arrives and answers once the client half-closes', async () => {
    const client = createIngestClient(h.audit.grpcAddress);
    const call = openBatchCall(client);
    const first = [makeEvent(), makeEvent(), makeEvent()];
    const second = [makeEvent(), makeEvent()];
    let summary;
    try {
      call.write(first);
      await waitFor(async () => (await storedCount(first)) === 3, { what: 'the first message to be committed while the call is open' });
      call.write([]);
      call.write(second);
      call.end();
      summary = await call.summary;
    } finally {
      client.close();
    }
    assert.deepEqual([summary.accepted, summary.duplicates], ['5', '0']);
    const top = await h.prisma.auditEvent.aggregate({
      _max: { seq: true },
      where: { eventId: { in: [...first, ...second].map((event) => event.event_id ?? '') } },
    });
    assert.equal(summary.last_seq, top._max.seq?.toString());
  });

  it('RecordBatch: counts resent events as duplicates, within a message, across messages and across calls', async () => {
    const events = [makeEvent(), makeEvent(), makeEvent()];
    const first = await h.recordBatches([events, [events[0] ?? makeEvent()]]);
    assert.deepEqual([first.accepted, first.duplicates], ['3', '1']);
    const extra = makeEvent();
    const again = await h.recordBatches([[...events, extra, extra]]);
    assert.deepEqual([again.accepted, again.duplicates], ['1', '4']);
    assert.equal(await storedCount([...events, extra]), 4);
    assert.equal((await verify(h)).ok, true);
  });

  it('stores the normalised form that the hash covers', async () => {
    const pollId = randomUUID().toUpperCase();
    const event = makeEvent({ at: '2030-06-01T14:00:00.1234+02:00', poll_id: pollId, data_json: '{"b":1.50,"a":{"y":[1,2],"x":"é","w":"\\u0041\\\\u0000"}}' });
    await h.record([event]);
    const row = await h.prisma.auditEvent.findUniqueOrThrow({ where: { eventId: event.event_id ?? '' } });
    assert.equal(row.at.toISOString(), '2030-06-01T12:00:00.123Z');
    assert.equal(row.pollId, pollId.toLowerCase());
    // An escape is fine when it decodes to something storable (the last one is a backslash and "u0000").
    assert.deepEqual(row.data, { a: { w: 'A\\u0000', x: 'é', y: [1, 2] }, b: 1.5 });
    assert.equal((await verify(h)).ok, true);
  });

  const invalid: readonly [string, Partial<AuditEventInput>, string][] = [
    ['event_id', { event_id: 'not-a-uuid' }, 'must be a UUID'],
    ['at', { at: 'yesterday' }, 'ISO-8601'],
    ['at', { at: '2030-01-01T00:00:00' }, 'ISO-8601'],
    ['at', { at: '' }, 'ISO-8601'],
    ['action', { action: 'vote.deleted' }, 'must be one of'],
    ['actor', { actor: '' }, 'non-empty'],
    ['actor', { actor: 'nul\u0000inside' }, 'NUL'],
    ['subject_type', { subject_type: '' }, 'non-empty'],
    ['subject_id', { subject_id: '' }, 'non-empty'],
    ['poll_id', { poll_id: 'poll-1' }, 'must be a UUID'],
    ['data_json', { data_json: '{not json' }, 'not valid JSON'],
    ['data_json', { data_json: '[1,2]' }, 'must be a JSON object'],
    ['data_json', { data_json: '"text"' }, 'must be a JSON object'],
    ['data_json', { data_json: '{"a":"\\u0000"}' }, 'NUL'],
    ['data_json', { data_json: '{"a":"\\ud800"}' }, 'malformed UTF-16'],
    // Deep enough to overflow the stack of any recursive walk, within the length limit; with a \u
    // escape (which sends the text through the per-string check) and without one.
    ['data_json', { data_json: deeplyNested('"\\u0041"') }, 'nested deeper than 64 levels'],
    ['data_json', { data_json: deeplyNested('1') }, 'nested deeper than 64 levels'],
    ['data_json', { data_json: `${'{"a":'.repeat(65)}1${'}'.repeat(65)}` }, 'nested deeper than 64 levels'],
    // PostgreSQL has no year 0: a batch holding one would fail for every stream sharing it.
    ['at', { at: '0000-06-01T00:00:00Z' }, 'between years 0001 and 9999'],
    ['at', { at: '0001-01-01T00:00:00+01:00' }, 'between years 0001 and 9999'],
  ];
  // Record: the middle message of three is invalid. RecordBatch: a first message of one event, then
  // [good, bad, good]: the second message is refused as a whole, the first is written.
  for (const [field, override, problem] of invalid) {
    it(`Record: rejects ${field} = ${JSON.stringify(Object.values(override)[0])} with INVALID_ARGUMENT naming the field`, async () => {
      const bad = makeEvent(override);
      const error = await refusal(h.record([makeEvent(), bad, makeEvent()]));
      assertNamesField(error, field, problem, bad);
      assert.match(error.details, /^AuditEventInput/);
      if (field !== 'event_id') assert.equal(await storedCount([bad]), 0, 'nothing of the invalid message is written');
    });

    it(`RecordBatch: rejects ${field} = ${JSON.stringify(Object.values(override)[0])} naming the field and the position`, async () => {
      const earlier = makeEvent();
      const batch = [makeEvent(), makeEvent(override), makeEvent()];
      const error = await refusal(h.recordBatches([[earlier], batch]));
      assertNamesField(error, field, problem, batch[1]);
      assert.match(error.details, /^AuditEventBatch message 1 events\[1\]/);
      assert.equal(error.metadata.get(AUDIT_INVALID_MESSAGE_INDEX_METADATA)[0], '1');
      assert.equal(error.metadata.get(AUDIT_INVALID_BATCH_INDEX_METADATA)[0], '1');
      // The first message was handed to the appender before the refusal: it lands.
      await waitFor(async () => (await storedCount([earlier])) === 1, { what: 'the earlier message to be written' });
      if (field !== 'event_id') assert.equal(await storedCount(batch), 0, 'nothing of the refused message is written, not even its valid events');
    });
  }

  it('keeps serving after refusing deeply nested data_json', async () => {
    for (const inner of ['"\\u0041"', '1']) {
      const bad = makeEvent({ data_json: deeplyNested(inner) });
      assertNamesField(await refusal(h.recordBatches([[bad]])), 'data_json', 'nested deeper', bad);
      const good = makeEvent({ data_json: `${'{"a":'.repeat(64)}1${'}'.repeat(64)}` }); // the deepest accepted
      assert.equal((await h.recordBatches([[good]])).accepted, '1', 'the same server answers the next call');
    }
  });

  it('counts appended events by action and reports open streams in /metrics', async () => {
    const text = await (await fetch(`${h.audit.url}/metrics`)).text();
    assert.match(text, /votemesh_audit_events_appended_total\{action="vote\.counted",service="votemesh-audit"\} \d+/);
    assert.match(text, /votemesh_audit_append_batch_seconds_count\{service="votemesh-audit"\} [1-9]/);
    assert.match(text, /votemesh_audit_ingest_streams\{service="votemesh-audit"\} 0/);
    assert.match(text, /votemesh_audit_ingest_rejected_total\{field="data_json",service="votemesh-audit"\} 18/);
  });

  it('is ready when PostgreSQL answers and gRPC listens', async () => {
    const response = await fetch(`${h.audit.url}/readyz`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { checks: { name: string; ok: boolean }[] };
    assert.deepEqual(
      body.checks.map((check) => [check.name, check.ok]),
      [
        ['postgres', true],
        ['grpc', true],
      ],
    );
    assert.equal((await fetch(`${h.audit.url}/healthz`)).status, 200);
  });
});
