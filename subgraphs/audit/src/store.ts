// PostgreSQL access for audit_events: the serialized, batched append that extends the hash chain,
// the newest-first listing behind auditLog/auditTrail, and the chain walk behind verifyAuditLog.
// Append-only by convention AND by grant: the audit process's database role should hold only
// SELECT and INSERT on audit_events (docs/contracts/audit.md); verifyAuditLog detects the rest.
import type { PrismaClient } from '@votemesh/common/db/generated/client';
import { chainHash, GENESIS_HASH, type ChainedContent, type JsonObject } from './chain.ts';

/** pg_advisory_xact_lock key serializing every append ("vmaudit" in ASCII). */
export const AUDIT_CHAIN_LOCK_KEY = 0x76_6d_61_75_64_69_74n;

export interface StoredEvent extends ChainedContent {
  readonly seq: bigint;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AppendResult {
  /** The events this batch added to the chain, in seq order. */
  readonly appended: readonly StoredEvent[];
  /** Event ids that were already recorded (or repeated within the batch) and were skipped. */
  readonly duplicates: ReadonlySet<string>;
}

export interface AuditFilter {
  readonly pollId?: string | undefined;
  readonly action?: string | undefined;
  readonly actor?: string | undefined;
  readonly since?: Date | undefined;
}

export interface Verification {
  readonly ok: boolean;
  readonly checkedEvents: number;
  readonly firstBrokenSeq: bigint | null;
  readonly reason: string | null;
  readonly lastSeq: bigint | null;
  readonly headHash: string;
}

export interface AuditStore {
  append(events: readonly ChainedContent[]): Promise<AppendResult>;
  /** Newest first: events with seq < `beforeSeq` (all when undefined), at most `limit`. */
  list(filter: AuditFilter, limit: number, beforeSeq: bigint | undefined): Promise<StoredEvent[]>;
  verify(pageSize?: number): Promise<Verification>;
  ping(): Promise<void>;
}

export function createAuditStore(prisma: PrismaClient): AuditStore {
  return {
    append: (events) => append(prisma, events),
    list: (filter, limit, beforeSeq) => list(prisma, filter, limit, beforeSeq),
    verify: (pageSize) => verify(prisma, pageSize ?? 2000),
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
  };
}

async function append(prisma: PrismaClient, events: readonly ChainedContent[]): Promise<AppendResult> {
  if (events.length === 0) return { appended: [], duplicates: new Set() };
  return prisma.$transaction(async (tx) => {
    // Everything below runs with the chain head locked: one appender at a time across all replicas.
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})::text AS locked`;
    const ids = events.map((event) => event.eventId);
    const known = await tx.$queryRaw<{ event_id: string }[]>`
      SELECT event_id::text AS event_id FROM audit_events WHERE event_id = ANY(${ids}::uuid[])`;
    const duplicates = new Set(known.map((row) => row.event_id));
    const fresh: ChainedContent[] = [];
    const seen = new Set<string>();
    for (const event of events) {
      if (duplicates.has(event.eventId) || seen.has(event.eventId)) duplicates.add(event.eventId);
      else {
        seen.add(event.eventId);
        fresh.push(event);
      }
    }
    if (fresh.length === 0) return { appended: [], duplicates };

    const head = await tx.$queryRaw<{ hash: string }[]>`SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1`;
    // Seqs are drawn explicitly (and sorted) rather than left to the column default, so chain order
    // and seq order agree by construction instead of relying on INSERT … SELECT evaluation order.
    const drawn = await tx.$queryRaw<{ seq: bigint }[]>`
      SELECT nextval(pg_get_serial_sequence('audit_events', 'seq')) AS seq FROM generate_series(1, ${fresh.length}::int)`;
    const seqs = drawn.map((row) => row.seq).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let prevHash = head[0]?.hash ?? GENESIS_HASH;
    const appended = fresh.map((event, index): StoredEvent => {
      const hash = chainHash(prevHash, event);
      const stored = { ...event, seq: seqs[index] ?? 0n, prevHash, hash };
      prevHash = hash;
      return stored;
    });

    await tx.$executeRaw`
      INSERT INTO audit_events (seq, event_id, at, actor, action, subject_type, subject_id, poll_id, trace_id, data, prev_hash, hash)
      SELECT * FROM unnest(
        ${appended.map((e) => e.seq.toString())}::bigint[],
        ${appended.map((e) => e.eventId)}::uuid[],
        ${appended.map((e) => e.at)}::timestamptz[],
        ${appended.map((e) => e.actor)}::text[],
        ${appended.map((e) => e.action)}::text[],
        ${appended.map((e) => e.subjectType)}::text[],
        ${appended.map((e) => e.subjectId)}::text[],
        ${appended.map((e) => e.pollId)}::uuid[],
        ${appended.map((e) => e.traceId)}::text[],
        ${appended.map((e) => JSON.stringify(e.data))}::jsonb[],
        ${appended.map((e) => e.prevHash)}::text[],
        ${appended.map((e) => e.hash)}::text[]
      )`;
    return { appended, duplicates };
  });
}

interface AuditEventRow {
  seq: bigint;
  eventId: string;
  at: Date;
  actor: string;
  action: string;
  subjectType: string;
  subjectId: string;
  pollId: string | null;
  traceId: string | null;
  data: unknown;
  prevHash: string;
  hash: string;
}

function fromRow(row: AuditEventRow): StoredEvent {
  const data = typeof row.data === 'object' && row.data !== null && !Array.isArray(row.data) ? (row.data as JsonObject) : {};
  return { ...row, at: row.at.toISOString(), data };
}

async function list(prisma: PrismaClient, filter: AuditFilter, limit: number, beforeSeq: bigint | undefined): Promise<StoredEvent[]> {
  const rows = await prisma.auditEvent.findMany({
    where: {
      ...(filter.pollId === undefined ? {} : { pollId: filter.pollId }),
      ...(filter.action === undefined ? {} : { action: filter.action }),
      ...(filter.actor === undefined ? {} : { actor: filter.actor }),
      ...(filter.since === undefined ? {} : { at: { gte: filter.since } }),
      ...(beforeSeq === undefined ? {} : { seq: { lt: beforeSeq } }),
    },
    orderBy: { seq: 'desc' },
    take: limit,
  });
  return rows.map(fromRow);
}

async function verify(prisma: PrismaClient, pageSize: number): Promise<Verification> {
  // Walk up to the head as of now: appends commit in seq order under the advisory lock, so every
  // seq at or below the current maximum is already committed.
  const top = await prisma.auditEvent.aggregate({ _max: { seq: true } });
  const lastSeq = top._max.seq;
  let expectedPrev = GENESIS_HASH;
  let prevSeq: bigint | null = null;
  let checkedEvents = 0;
  const broken = (seq: bigint, reason: string): Verification => ({ ok: false, checkedEvents, firstBrokenSeq: seq, reason, lastSeq, headHash: expectedPrev });
  while (lastSeq !== null) {
    const rows = await prisma.auditEvent.findMany({
      where: { seq: { gt: prevSeq ?? -1n, lte: lastSeq } },
      orderBy: { seq: 'asc' },
      take: pageSize,
    });
    if (rows.length === 0) break;
    for (const row of rows) {
      checkedEvents += 1;
      const event = fromRow(row);
      if (event.prevHash !== expectedPrev) {
        const predecessor = prevSeq === null ? 'the genesis hash (this is the first event)' : `the hash of the preceding event seq ${prevSeq}`;
        return broken(
          event.seq,
          `prev_hash link broken: seq ${event.seq} has prev_hash ${event.prevHash} but ${predecessor} is ${expectedPrev} (an event before it was deleted, inserted or altered together with its hash)`,
        );
      }
      const recomputed = chainHash(event.prevHash, event);
      if (recomputed !== event.hash) {
        return broken(
          event.seq,
          `stored hash does not match the event's content: seq ${event.seq} stores ${event.hash}, its content hashes to ${recomputed} (the row was altered)`,
        );
      }
      expectedPrev = event.hash;
      prevSeq = event.seq;
    }
  }
  return { ok: true, checkedEvents, firstBrokenSeq: null, reason: null, lastSeq, headHash: expectedPrev };
}
