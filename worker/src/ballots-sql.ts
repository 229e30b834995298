// Step 3 of a batch: the ballots. One row per (poll, voter) holds the newest vote by stream id.
//
// Fast path, ONE statement for the whole batch: insert the ballots that do not exist (ON CONFLICT
// DO NOTHING, in (poll, voter) order) and update the existing ones the batch has a newer entry for,
// as a compare-and-set on the stream id read in the same statement. Under READ COMMITTED an UPDATE
// that meets a row changed since its snapshot re-checks its WHERE against the newest version, so a
// lost race shows up as "not updated although newer", never as a wrong old option.
//
// Slow path, for exactly those lost races (and a ballot a concurrent batch inserted meanwhile):
// INSERT … ON CONFLICT DO NOTHING, SELECT … FOR UPDATE (the current row, locked, in order),
// UPDATE. It is what the fast path would do with no concurrency, only with explicit locks.
//
// Both paths remember, on the row they change, the vote it replaced (replaced_* columns), and a
// replay of a ballot's current vote answers it again: its settle may never have reached Redis.
import { Prisma } from '@votemesh/common/db/client';
import { compareStreamIds, type ParsedVote } from './outcomes.ts';

type Tx = Prisma.TransactionClient;

export interface PreviousBallot {
  readonly optionId: string;
  readonly receiptId: string;
  readonly castAt: Date;
}

export type BallotChange =
  | { readonly kind: 'new' }
  | { readonly kind: 'changed'; readonly previous: PreviousBallot }
  /** `replaced`: the vote the ballot's current one replaced when it was applied, if any. */
  | { readonly kind: 'replay'; readonly replaced?: PreviousBallot }
  | { readonly kind: 'older' };

interface ReplacedColumns {
  replaced_option_id: string | null;
  replaced_receipt_id: string | null;
  replaced_cast_at: Date | null;
}

/**
 * The SET items of an UPDATE of ballot `b` to vote `v` that remember the vote being replaced: in SET,
 * `b.*` is the row before the update. The same receipt under a newer stream id replaces nothing and
 * keeps what the row remembered.
 */
const REMEMBER_REPLACED = Prisma.sql`
  replaced_receipt_id = CASE WHEN b.receipt_id = v.receipt_id THEN b.replaced_receipt_id ELSE b.receipt_id END,
  replaced_option_id = CASE WHEN b.receipt_id = v.receipt_id THEN b.replaced_option_id ELSE b.option_id END,
  replaced_cast_at = CASE WHEN b.receipt_id = v.receipt_id THEN b.replaced_cast_at ELSE b.cast_at END`;

function replayOf(row: ReplacedColumns & { receipt_id: string | null }): BallotChange {
  const { replaced_option_id: optionId, replaced_receipt_id: receiptId, replaced_cast_at: castAt } = row;
  if (optionId === null || receiptId === null || castAt === null || receiptId === row.receipt_id) return { kind: 'replay' };
  return { kind: 'replay', replaced: { optionId, receiptId, castAt } };
}

interface FastRow extends ReplacedColumns {
  ord: bigint;
  inserted: boolean;
  updated: boolean;
  option_id: string | null;
  receipt_id: string | null;
  stream_ms: bigint | null;
  stream_seq: bigint | null;
  cast_at: Date | null;
}

interface LockedRow extends ReplacedColumns {
  ord: bigint;
  option_id: string;
  receipt_id: string;
  stream_ms: bigint;
  stream_seq: bigint;
  cast_at: Date;
}

/** `winners` must be sorted by (poll, voter) and hold at most one entry per pair. */
export async function resolveBallots(tx: Tx, winners: readonly ParsedVote[]): Promise<BallotChange[]> {
  const changes: (BallotChange | undefined)[] = new Array(winners.length);
  const retry: number[] = [];
  const rows = await tx.$queryRaw<FastRow[]>`
    WITH v AS (
      SELECT * FROM unnest(${winners.map((v) => v.entry.pollId)}::uuid[], ${winners.map((v) => v.entry.voterId)}::text[],
                           ${winners.map((v) => v.entry.optionId)}::uuid[], ${winners.map((v) => v.entry.receiptId)}::uuid[],
                           ${winners.map((v) => v.ms)}::bigint[], ${winners.map((v) => v.seq)}::bigint[],
                           ${winners.map((v) => v.entry.castAt)}::timestamptz[])
        WITH ORDINALITY AS v(poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at, ord)
    ), old AS (
      SELECT v.ord, b.option_id, b.receipt_id, b.stream_ms, b.stream_seq, b.cast_at, b.replaced_option_id, b.replaced_receipt_id, b.replaced_cast_at
      FROM v JOIN ballots b ON b.poll_id = v.poll_id AND b.voter_id = v.voter_id
    ), ins AS (
      INSERT INTO ballots (poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at)
      SELECT v.poll_id, v.voter_id, v.option_id, v.receipt_id, v.stream_ms, v.stream_seq, v.cast_at
      FROM v WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.ord = v.ord) ORDER BY v.ord
      ON CONFLICT (poll_id, voter_id) DO NOTHING
      RETURNING poll_id, voter_id
    ), upd AS (
      UPDATE ballots b
      SET option_id = v.option_id, receipt_id = v.receipt_id, stream_ms = v.stream_ms, stream_seq = v.stream_seq,
          cast_at = v.cast_at, counted_at = now(), ${REMEMBER_REPLACED}
      FROM v JOIN old ON old.ord = v.ord
      WHERE b.poll_id = v.poll_id AND b.voter_id = v.voter_id
        AND b.stream_ms = old.stream_ms AND b.stream_seq = old.stream_seq
        AND (v.stream_ms, v.stream_seq) > (old.stream_ms, old.stream_seq)
      RETURNING b.poll_id, b.voter_id
    )
    SELECT v.ord, ins.poll_id IS NOT NULL AS inserted, upd.poll_id IS NOT NULL AS updated,
           old.option_id::text AS option_id, old.receipt_id::text AS receipt_id, old.stream_ms, old.stream_seq, old.cast_at,
           old.replaced_option_id::text AS replaced_option_id, old.replaced_receipt_id::text AS replaced_receipt_id, old.replaced_cast_at
    FROM v
    LEFT JOIN old ON old.ord = v.ord
    LEFT JOIN ins ON ins.poll_id = v.poll_id AND ins.voter_id = v.voter_id
    LEFT JOIN upd ON upd.poll_id = v.poll_id AND upd.voter_id = v.voter_id`;

  for (const row of rows) {
    const index = Number(row.ord) - 1;
    const vote = winners[index];
    if (!vote) throw new Error(`ballot upsert answered an unknown ordinal ${row.ord}`);
    if (row.inserted) changes[index] = { kind: 'new' };
    else if (row.stream_ms === null || row.stream_seq === null || row.option_id === null || row.receipt_id === null || row.cast_at === null) retry.push(index);
    else if (row.updated) changes[index] = { kind: 'changed', previous: { optionId: row.option_id, receiptId: row.receipt_id, castAt: row.cast_at } };
    else {
      const order = compareStreamIds(vote, { ms: row.stream_ms, seq: row.stream_seq });
      if (order > 0)
        retry.push(index); // lost a race with a concurrent batch: decide under a lock
      else changes[index] = order === 0 ? replayOf(row) : { kind: 'older' };
    }
  }
  if (retry.length > 0) await resolveLocked(tx, winners, retry, changes);
  return changes.map((change, index) => {
    if (!change) throw new Error(`ballot (${winners[index]?.entry.pollId}, ${winners[index]?.entry.voterId}) was not resolved`);
    return change;
  });
}

async function resolveLocked(tx: Tx, winners: readonly ParsedVote[], indexes: readonly number[], changes: (BallotChange | undefined)[]): Promise<void> {
  const votes = indexes.map((index) => winners[index] as ParsedVote);
  const inserted = await tx.$queryRaw<{ poll_id: string; voter_id: string }[]>`
    INSERT INTO ballots (poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at)
    SELECT v.poll_id, v.voter_id, v.option_id, v.receipt_id, v.stream_ms, v.stream_seq, v.cast_at
    FROM unnest(${votes.map((v) => v.entry.pollId)}::uuid[], ${votes.map((v) => v.entry.voterId)}::text[],
                ${votes.map((v) => v.entry.optionId)}::uuid[], ${votes.map((v) => v.entry.receiptId)}::uuid[],
                ${votes.map((v) => v.ms)}::bigint[], ${votes.map((v) => v.seq)}::bigint[],
                ${votes.map((v) => v.entry.castAt)}::timestamptz[])
         WITH ORDINALITY AS v(poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at, ord)
    ORDER BY v.ord
    ON CONFLICT (poll_id, voter_id) DO NOTHING
    RETURNING poll_id::text AS poll_id, voter_id`;
  const insertedKeys = new Set(inserted.map((row) => `${row.poll_id}\u0000${row.voter_id}`));
  const insertedOrds = new Set(votes.flatMap((vote, local) => (insertedKeys.has(`${vote.entry.pollId}\u0000${vote.entry.voterId}`) ? [local] : [])));
  for (const local of insertedOrds) changes[indexes[local] as number] = { kind: 'new' };

  const rest = votes.map((vote, local) => ({ vote, local })).filter(({ local }) => !insertedOrds.has(local));
  if (rest.length === 0) return;
  const locked = await tx.$queryRaw<LockedRow[]>`
    SELECT k.ord, b.option_id::text AS option_id, b.receipt_id::text AS receipt_id, b.stream_ms, b.stream_seq, b.cast_at,
           b.replaced_option_id::text AS replaced_option_id, b.replaced_receipt_id::text AS replaced_receipt_id, b.replaced_cast_at
    FROM unnest(${rest.map(({ vote }) => vote.entry.pollId)}::uuid[], ${rest.map(({ vote }) => vote.entry.voterId)}::text[]) WITH ORDINALITY AS k(poll_id, voter_id, ord)
    JOIN ballots b ON b.poll_id = k.poll_id AND b.voter_id = k.voter_id
    ORDER BY k.ord
    FOR UPDATE OF b`;
  const newer: ParsedVote[] = [];
  for (const row of locked) {
    const { vote, local } = rest[Number(row.ord) - 1] as { vote: ParsedVote; local: number };
    const index = indexes[local] as number;
    const order = compareStreamIds(vote, { ms: row.stream_ms, seq: row.stream_seq });
    if (order > 0) {
      newer.push(vote);
      changes[index] = { kind: 'changed', previous: { optionId: row.option_id, receiptId: row.receipt_id, castAt: row.cast_at } };
    } else changes[index] = order === 0 ? replayOf(row) : { kind: 'older' };
  }
  if (newer.length === 0) return;
  await tx.$executeRaw`
    UPDATE ballots b
    SET option_id = v.option_id, receipt_id = v.receipt_id, stream_ms = v.stream_ms, stream_seq = v.stream_seq,
        cast_at = v.cast_at, counted_at = now(), ${REMEMBER_REPLACED}
    FROM unnest(${newer.map((v) => v.entry.pollId)}::uuid[], ${newer.map((v) => v.entry.voterId)}::text[],
                ${newer.map((v) => v.entry.optionId)}::uuid[], ${newer.map((v) => v.entry.receiptId)}::uuid[],
                ${newer.map((v) => v.ms)}::bigint[], ${newer.map((v) => v.seq)}::bigint[],
                ${newer.map((v) => v.entry.castAt)}::timestamptz[])
         AS v(poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at)
    WHERE b.poll_id = v.poll_id AND b.voter_id = v.voter_id`;
}
