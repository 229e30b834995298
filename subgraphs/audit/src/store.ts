// PostgreSQL access for audit_events: the serialized, batched append that extends the hash chain,
// the newest-first listing behind auditLog/auditTrail, and the chain walk behind verifyAuditLog.
// Append-only by convention AND by grant: the audit process's database role should hold only
// SELECT and INSERT on audit_events (docs/contracts/audit.md); verifyAuditLog detects the rest.
import type { DatabasePool, PrismaClient } from '@votemesh/common/db/client';
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

/** `pool` is the one behind `prisma`: appends go straight to the driver, the rest through Prisma. */
export function createAuditStore(prisma: PrismaClient, pool: DatabasePool): AuditStore {
  return {
    append: (events) => append(pool, events),
    list: (filter, limit, beforeSeq) => list(prisma, filter, limit, beforeSeq),
    verify: (pageSize) => verify(prisma, pageSize ?? 2000),
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
  };
}

// The transaction of one append, in three round trips after BEGIN. The lock is taken in a statement
// of its own: in READ COMMITTED every statement reads a snapshot taken when it starts, so only the
// statements after the lock see the previous holder's commit (its head and its event ids).
const BEGIN_AND_LOCK = `BEGIN; SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})`;
const READ_HEAD_AND_KNOWN_IDS = `
  SELECT (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS head,
         ARRAY(SELECT event_id::text FROM audit_events WHERE event_id = ANY($1::uuid[])) AS known`;
// $1 is a JSON array of [eventId, at, actor, action, subjectType, subjectId, pollId, traceId, data,
// prevHash, hash] rows in chain order: one parameter that PostgreSQL parses once, instead of an
// array per column that the driver escapes element by element. The new seqs are drawn here and
// paired by rank with the rows (the nth smallest with the nth row), so seq order is chain order by
// construction, whatever order nextval() runs in; RETURNING hands them back (sorted by the caller).
const INSERT_CHAINED_ROWS = `
  WITH input AS (
    SELECT value AS row, ordinality AS position FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY
  ), drawn AS (
    SELECT nextval('audit_events_seq_seq') AS seq FROM generate_series(1, $2::int)
  ), ranked AS (
    SELECT seq, row_number() OVER (ORDER BY seq) AS position FROM drawn
  )
  INSERT INTO audit_events (seq, event_id, at, actor, action, subject_type, subject_id, poll_id, trace_id, data, prev_hash, hash)
  SELECT ranked.seq, (row->>0)::uuid, (row->>1)::timestamptz, row->>2, row->>3, row->>4, row->>5, (row->>6)::uuid, row->>7, row->8, row->>9, row->>10
  FROM input JOIN ranked USING (position)
  RETURNING seq::text`;

/**
 * Extends the chain by the events not recorded yet (docs/contracts/audit.md, "Appending"). On the pg
 * driver rather than Prisma: Prisma's handling of every element of every array parameter was most
 * of the audit process's CPU per event.
 */
async function append(pool: DatabasePool, events: readonly ChainedContent[]): Promise<AppendResult> {
  if (events.length === 0) return { appended: [], duplicates: new Set() };
  const client = await pool.connect();
  let discard: Error | undefined;
  try {
    // Everything below runs with the chain head locked: one appender at a time across all replicas.
    await client.query(BEGIN_AND_LOCK);
    const state = await client.query<{ head: string | null; known: string[] }>(READ_HEAD_AND_KNOWN_IDS, [events.map((event) => event.eventId)]);
    const known = new Set(state.rows[0]?.known);
    const duplicates = new Set<string>();
    const fresh: ChainedContent[] = [];
    const seen = new Set<string>();
    for (const event of events) {
      if (known.has(event.eventId) || seen.has(event.eventId)) duplicates.add(event.eventId);
      else {
        seen.add(event.eventId);
        fresh.push(event);
      }
    }
    if (fresh.length === 0) {
      await client.query('COMMIT');
      return { appended: [], duplicates };
    }

    let prevHash = state.rows[0]?.head ?? GENESIS_HASH;
    const links = fresh.map((event) => {
      const link = { event, prevHash, hash: chainHash(prevHash, event) };
      prevHash = link.hash;
      return link;
    });
    const rows = links.map(({ event, prevHash, hash }) => [
      event.eventId,
      event.at,
      event.actor,
      event.action,
      event.subjectType,
      event.subjectId,
      event.pollId,
      event.traceId,
      event.data,
      prevHash,
      hash,
    ]);
    const inserted = await client.query<{ seq: string }>(INSERT_CHAINED_ROWS, [JSON.stringify(rows), rows.length]);
    if (inserted.rows.length !== links.length) throw new Error(`audit append inserted ${inserted.rows.length} rows for ${links.length} events`);
    await client.query('COMMIT');
    const seqs = inserted.rows.map((row) => BigInt(row.seq)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const appended = links.map(({ event, prevHash, hash }, index): StoredEvent => ({ ...event, seq: seqs[index] ?? 0n, prevHash, hash }));
    return { appended, duplicates };
  } catch (error) {
    // A connection that cannot even roll back is not given back to the pool.
    discard = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
    );
    throw error;
  } finally {
    client.release(discard);
  }
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
