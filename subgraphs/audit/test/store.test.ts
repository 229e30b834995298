import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeEvent, startHarness, type Harness } from './harness.ts';

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
});
