// verifyAuditLog against a tampered table: the UPDATE/DELETE a DBA (or attacker) could run is
// exactly what the chain must expose, naming the first broken event and which check failed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalEvent, canonicalJson, chainHash, GENESIS_HASH } from '../src/chain.ts';
import { ADMIN, makeEvent, startHarness, type Harness } from './harness.ts';

interface Verification {
  ok: boolean;
  checkedEvents: number;
  firstBrokenSeq: string | null;
  reason: string | null;
  lastSeq: string | null;
  headHash: string;
}

describe('canonical form', () => {
  it('does not depend on key order and escapes like JSON.stringify', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: null, y: 'é"' }], c: true } }), '{"a":{"c":true,"d":[1,{"y":"é\\"","z":null}]},"b":1}');
    const event = {
      eventId: 'e',
      at: '2030-01-01T00:00:00.000Z',
      actor: 'a',
      action: 'poll.created',
      subjectType: 'Poll',
      subjectId: 's',
      pollId: null,
      traceId: 't',
      data: { b: 2, a: 1 },
    };
    assert.equal(canonicalEvent(event), '["e","2030-01-01T00:00:00.000Z","a","poll.created","Poll","s",null,"t",{"a":1,"b":2}]');
    assert.equal(chainHash(GENESIS_HASH, event), chainHash(GENESIS_HASH, { ...event, data: { a: 1, b: 2 } }));
    assert.notEqual(chainHash(GENESIS_HASH, event), chainHash(GENESIS_HASH, { ...event, traceId: null }));
  });
});

describe('verifyAuditLog', () => {
  let h: Harness;
  let seqs: bigint[];
  const verify = async (): Promise<Verification> => {
    const result = await h.graphql<{ verifyAuditLog: Verification }>(
      '{ verifyAuditLog { ok checkedEvents firstBrokenSeq reason lastSeq headHash } }',
      {},
      ADMIN,
    );
    assert.equal(result.errors, undefined);
    assert.ok(result.data);
    return result.data.verifyAuditLog;
  };

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  it('reports an empty log as intact', async () => {
    assert.deepEqual(await verify(), { ok: true, checkedEvents: 0, firstBrokenSeq: null, reason: null, lastSeq: null, headHash: GENESIS_HASH });
  });

  it('verifies an untouched chain, walking every page', async () => {
    await h.record(Array.from({ length: 10 }, () => makeEvent()));
    await h.record(Array.from({ length: 2500 }, () => makeEvent())); // more than one verify page
    const rows = await h.prisma.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { seq: true, hash: true } });
    seqs = rows.map((row) => row.seq);
    const result = await verify();
    assert.deepEqual(result, {
      ok: true,
      checkedEvents: 2510,
      firstBrokenSeq: null,
      reason: null,
      lastSeq: seqs.at(-1)?.toString() ?? null,
      headHash: rows.at(-1)?.hash,
    });
  });

  it('names the altered event when one stored row is changed', async () => {
    const target = seqs[3] ?? 0n;
    await h.prisma.$executeRaw`UPDATE audit_events SET actor = 'someone-else' WHERE seq = ${target}`;
    const result = await verify();
    assert.equal(result.ok, false);
    assert.equal(result.firstBrokenSeq, target.toString());
    assert.equal(result.checkedEvents, 4);
    assert.match(result.reason ?? '', /stored hash does not match the event's content/);
    await h.prisma.$executeRaw`UPDATE audit_events SET actor = 'system:test' WHERE seq = ${target}`;
    assert.equal((await verify()).ok, true);
  });

  it('notices changed data even when only the JSON changes', async () => {
    const target = seqs[1200] ?? 0n;
    await h.prisma.$executeRaw`UPDATE audit_events SET data = data || '{"n": -1}'::jsonb WHERE seq = ${target}`;
    const result = await verify();
    assert.equal(result.firstBrokenSeq, target.toString());
    assert.match(result.reason ?? '', /stored hash/);
  });

  it('names the following event when an altered row also got a recomputed hash', async () => {
    // Still broken at seqs[1200] from the previous case: rewrite that row's hash to match its new
    // content, as a careful tamperer would; the next event's link then no longer matches.
    const row = await h.prisma.auditEvent.findUniqueOrThrow({ where: { seq: seqs[1200] ?? 0n } });
    const rehashed = chainHash(row.prevHash, { ...row, at: row.at.toISOString(), data: row.data as { [key: string]: never } });
    await h.prisma.$executeRaw`UPDATE audit_events SET hash = ${rehashed} WHERE seq = ${row.seq}`;
    const result = await verify();
    assert.equal(result.firstBrokenSeq, (seqs[1201] ?? 0n).toString());
    assert.match(result.reason ?? '', /prev_hash link broken/);
    assert.match(result.reason ?? '', new RegExp(`preceding event seq ${seqs[1200]}`));
  });

  it('breaks the link at the next event when one row is deleted', async () => {
    await using fresh = await startHarness();
    await fresh.record(Array.from({ length: 8 }, () => makeEvent()));
    const rows = await fresh.prisma.auditEvent.findMany({ orderBy: { seq: 'asc' }, select: { seq: true } });
    const deleted = rows[5]?.seq ?? 0n;
    await fresh.prisma.$executeRaw`DELETE FROM audit_events WHERE seq = ${deleted}`;
    const result = await fresh.graphql<{ verifyAuditLog: Verification }>('{ verifyAuditLog { ok firstBrokenSeq reason checkedEvents } }', {}, ADMIN);
    assert.deepEqual(result.data?.verifyAuditLog.ok, false);
    assert.equal(result.data?.verifyAuditLog.firstBrokenSeq, (rows[6]?.seq ?? 0n).toString());
    assert.match(result.data?.verifyAuditLog.reason ?? '', /prev_hash link broken/);
    // Deleting the first event shows up at the new first one (it no longer links to genesis).
    await fresh.prisma.$executeRaw`DELETE FROM audit_events WHERE seq = ${rows[0]?.seq ?? 0n}`;
    const again = await fresh.graphql<{ verifyAuditLog: Verification }>('{ verifyAuditLog { firstBrokenSeq reason } }', {}, ADMIN);
    assert.equal(again.data?.verifyAuditLog.firstBrokenSeq, (rows[1]?.seq ?? 0n).toString());
    assert.match(again.data?.verifyAuditLog.reason ?? '', /genesis/);
  });
});
