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

  it('gives the text and hashes every stored row was chained with (pinned: changing them breaks old rows)', () => {
    // Integer-like keys (which Object.keys lists first), escapes, U+2028, astral characters,
    // numbers JSON.stringify rewrites, an empty key.
    const data = JSON.parse(
      '{"b":[3,{"z":1e21,"y":-0.0,"x":0.1}],"10":"ten","9":"nine","a":{"":null,"é":true,"e":false},"\\ud83d\\ude00":"😀","ctl":"\\u0001\\n"}',
    );
    const event = {
      eventId: '5f0c7c1e-8c8e-4a4b-9a4e-0c1d2e3f4a5b',
      at: '2030-01-01T00:00:00.000Z',
      actor: 'voter:ü\u2028"\\',
      action: 'vote.counted',
      subjectType: 'Vote',
      subjectId: 's',
      pollId: '0b8e7c6d-5a4b-4c3d-8e2f-1a0b9c8d7e6f',
      traceId: null,
      data,
    };
    assert.equal(
      canonicalEvent(event),
      '["5f0c7c1e-8c8e-4a4b-9a4e-0c1d2e3f4a5b","2030-01-01T00:00:00.000Z","voter:ü\u2028\\"\\\\","vote.counted","Vote","s","0b8e7c6d-5a4b-4c3d-8e2f-1a0b9c8d7e6f",null,' +
        '{"10":"ten","9":"nine","a":{"":null,"e":false,"é":true},"b":[3,{"x":0.1,"y":0,"z":1e+21}],"ctl":"\\u0001\\n","😀":"😀"}]',
    );
    assert.equal(chainHash(GENESIS_HASH, event), '314e174f091c0cb539f41c76f3c9fd07b570ee1615aff355059c1e40eea53394');
    assert.equal(chainHash('a'.repeat(64), event), '57278353d774e83f00af2032983a89616f810224fb1c7971d065a15c6735de4c');
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
