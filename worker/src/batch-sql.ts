// The fast path of a batch: ONE statement, no explicit transaction (so it runs at the session's
// default isolation, which the worker sets to READ COMMITTED: tally-sql.ts WORKER_DATABASE_OPTIONS
// says why), one JSON parameter in and one row out. Node does a single JSON.stringify per batch instead of encoding typed arrays, and
// PostgreSQL does the whole apply in one snapshot-and-locks pass:
//
//   input (JSON) → validate (poll, option of poll; cast before the poll's closes_at) → newest entry
//   per (poll, voter) in the batch →
//   ballots (insert the new ones in (poll, voter) order; compare-and-set update the ones the batch
//   has a newer entry for, exactly as ballots-sql.ts does) → option deltas → option_tallies →
//   poll_tallies → poll_rate_buckets → one row: a code per entry, the replaced receipts, the tallies.
//
// A changed ballot remembers the vote it replaced (replaced_* columns, set by the same UPDATE). If
// the batch commits but its settle never reaches Redis, the entry is replayed later and decided
// `r`; the statement then answers the remembered receipt as replaced again, so the settle of the
// replay marks it SUPERSEDED (receipt statuses only move forward, so saying it twice is harmless).
//
// Why the tally read-back is exact without a second statement: a data-modifying CTE reads other
// rows from the statement's snapshot, which may predate a transaction that committed while this one
// waited for a lock. So the statement never reads option counts from the snapshot: it upserts EVERY
// option of each touched poll (delta 0 for the untouched ones), and ON CONFLICT DO UPDATE always
// works on, locks and RETURNs the newest committed row. Every writer of a poll's counts (this path,
// the fallback, another replica) locks that poll's option rows and then its poll_tallies row, both in
// key order, so the counts returned are exactly the state the returned `version` names.
//
// A ballot that lost a race (a concurrent batch inserted or changed it after this statement's
// snapshot, or holds its row lock right now) is neither inserted nor updated and gets code `L`: its vote has not touched any count,
// everything else in the statement is complete and consistent, and the caller decides the lost votes
// again through the locking path (tally-sql.ts), in a transaction of their own.
//
// Why a vote is checked against closes_at here and not only by castVote: castVote reads the poll
// through a short-lived cache and writes the stream entry after that read, so a vote can be accepted
// just after the close committed. castAt is stamped when castVote accepted the vote, so the rule
// "a vote counts only if cast before the poll's closes_at" is decided here, whenever the batch is
// applied: a backlog drained after the close still counts every vote cast before it. closes_at is
// read once per distinct (poll, option) with the validation, not per vote.
import type { PrismaClient } from '@votemesh/common/db/client';
import type { ParsedVote } from './outcomes.ts';

/** One character per input vote, in input order. */
export const OUTCOME_CODES = {
  new: 'n',
  changed: 'c',
  sameOption: 's',
  replay: 'r',
  older: 'o',
  supersededInBatch: 'b',
  pollNotFound: 'P',
  optionNotInPoll: 'O',
  /** castAt is at or after the poll's closes_at. */
  pollClosed: 'X',
  lostRace: 'L',
} as const;

export type OutcomeCode = (typeof OUTCOME_CODES)[keyof typeof OUTCOME_CODES];

export interface FastReplaced {
  /** 1-based position of the vote that replaced it (or of the replay of that vote), in the input. */
  readonly ord: number;
  readonly optionId: string;
  readonly receiptId: string;
  readonly castAtMs: number;
}

export interface FastTally {
  readonly pollId: string;
  readonly version: number;
  readonly totalVotes: number;
  readonly options: readonly { readonly optionId: string; readonly votes: number }[];
  readonly windowVotes: number;
  readonly updatedAtMs: number;
}

export interface FastResult {
  /** `codes[i]` is the outcome of `votes[i]` (see OUTCOME_CODES). */
  readonly codes: string;
  readonly replaced: readonly FastReplaced[];
  readonly tallies: readonly FastTally[];
}

interface FastRow {
  codes: string | null;
  replaced: [number, string, string, number][] | null;
  tallies: { p: string; v: number; t: number; o: [string, number][] | null; w: number; u: number }[] | null;
}

// Stream ids and times travel as text and are split / parsed by PostgreSQL; uuids are validated
// and lower-cased by the parser already.
const applyBatchSql = (rank: string): string => `
WITH input AS (
  SELECT e.ord, (e.x->>0)::uuid AS poll_id, e.x->>1 AS voter_id, (e.x->>2)::uuid AS option_id, (e.x->>3)::uuid AS receipt_id,
         split_part(e.x->>4, '-', 1)::bigint AS stream_ms, split_part(e.x->>4, '-', 2)::bigint AS stream_seq,
         (e.x->>5)::timestamptz AS cast_at
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, ord)
), verdict AS MATERIALIZED (
  SELECT p.poll_id, p.option_id, pl.closes_at,
         CASE WHEN EXISTS (SELECT 1 FROM poll_options o WHERE o.id = p.option_id AND o.poll_id = p.poll_id) THEN ''
              WHEN pl.id IS NOT NULL THEN 'O' ELSE 'P' END AS code
  FROM (SELECT DISTINCT poll_id, option_id FROM input) p LEFT JOIN polls pl ON pl.id = p.poll_id
), checked AS (
  -- The per-vote code, before the ranking: a voter's vote cast after the close ranks apart (as any
  -- invalid entry does), so their newest vote cast before it still wins and is counted.
  SELECT i.*, CASE WHEN v.code = '' AND i.cast_at >= v.closes_at THEN 'X' ELSE v.code END AS code
  FROM input i JOIN verdict v ON v.poll_id = i.poll_id AND v.option_id = i.option_id
), ranked AS (
  SELECT i.*, ${rank} AS rank
  FROM checked i
), cur AS (
  SELECT r.ord, r.poll_id, r.voter_id, r.option_id, r.receipt_id, r.stream_ms, r.stream_seq, r.cast_at, b.poll_id IS NOT NULL AS had,
         b.option_id AS old_option_id, b.receipt_id AS old_receipt_id, b.stream_ms AS old_ms, b.stream_seq AS old_seq, b.cast_at AS old_cast_at,
         b.replaced_option_id, b.replaced_receipt_id, b.replaced_cast_at
  FROM ranked r LEFT JOIN ballots b ON b.poll_id = r.poll_id AND b.voter_id = r.voter_id
  WHERE r.code = '' AND r.rank = 1
), ins AS (
  INSERT INTO ballots (poll_id, voter_id, option_id, receipt_id, stream_ms, stream_seq, cast_at)
  SELECT c.poll_id, c.voter_id, c.option_id, c.receipt_id, c.stream_ms, c.stream_seq, c.cast_at
  FROM cur c WHERE NOT c.had
  ORDER BY c.poll_id, c.voter_id COLLATE "C"
  ON CONFLICT (poll_id, voter_id) DO NOTHING
  RETURNING poll_id, voter_id
), lockable AS (
  -- A ballot another batch holds is skipped, never waited for: that vote is decided again on the
  -- locking path (code L). Waiting would order this statement's row locks after the other's in
  -- whatever order the join produced them, and two concurrent batches then deadlock (each stalls
  -- for deadlock_timeout before one is killed and retried).
  -- The row it locks is the one the compare-and-set below updates (same key, still the old ids).
  SELECT c.ord, c.poll_id, c.voter_id, c.option_id, c.receipt_id, c.stream_ms, c.stream_seq, c.cast_at
  FROM cur c JOIN ballots b ON b.poll_id = c.poll_id AND b.voter_id = c.voter_id
  WHERE c.had AND b.stream_ms = c.old_ms AND b.stream_seq = c.old_seq
    AND (c.stream_ms, c.stream_seq) > (c.old_ms, c.old_seq)
  FOR UPDATE OF b SKIP LOCKED
), upd AS (
  -- In SET, b.* is the row before this update: the vote being replaced (the row lockable locked).
  -- The same receipt under a newer stream id replaces nothing and keeps what the row remembered.
  UPDATE ballots b
  SET option_id = l.option_id, receipt_id = l.receipt_id, stream_ms = l.stream_ms, stream_seq = l.stream_seq,
      cast_at = l.cast_at, counted_at = now(),
      replaced_receipt_id = CASE WHEN b.receipt_id = l.receipt_id THEN b.replaced_receipt_id ELSE b.receipt_id END,
      replaced_option_id = CASE WHEN b.receipt_id = l.receipt_id THEN b.replaced_option_id ELSE b.option_id END,
      replaced_cast_at = CASE WHEN b.receipt_id = l.receipt_id THEN b.replaced_cast_at ELSE b.cast_at END
  FROM lockable l
  WHERE b.poll_id = l.poll_id AND b.voter_id = l.voter_id
  RETURNING l.ord
), decided AS (
  -- IN (SELECT …) rather than joins: hashed subplans whatever the row estimates of the CTEs.
  SELECT c.ord, c.poll_id, c.option_id, c.receipt_id, c.old_option_id, c.old_receipt_id, c.old_cast_at,
         c.replaced_option_id, c.replaced_receipt_id, c.replaced_cast_at,
         CASE WHEN NOT c.had THEN CASE WHEN (c.poll_id, c.voter_id) IN (SELECT poll_id, voter_id FROM ins) THEN 'n' ELSE 'L' END
              WHEN c.ord IN (SELECT ord FROM upd) THEN CASE WHEN c.old_option_id = c.option_id THEN 's' ELSE 'c' END
              WHEN (c.stream_ms, c.stream_seq) = (c.old_ms, c.old_seq) THEN 'r'
              WHEN (c.stream_ms, c.stream_seq) < (c.old_ms, c.old_seq) THEN 'o'
              ELSE 'L' END AS code
  FROM cur c
), touched AS (
  SELECT poll_id, count(*) FILTER (WHERE code = 'n') AS new_ballots, count(*) AS applied
  FROM decided WHERE code IN ('n', 'c', 's') GROUP BY poll_id
), deltas AS (
  SELECT option_id, sum(delta) AS delta FROM (
    SELECT option_id, 1 AS delta FROM decided WHERE code IN ('n', 'c')
    UNION ALL SELECT old_option_id, -1 FROM decided WHERE code = 'c'
  ) d GROUP BY option_id
), options AS (
  INSERT INTO option_tallies (option_id, poll_id, votes)
  SELECT o.id, o.poll_id, coalesce(d.delta, 0)
  FROM touched t JOIN poll_options o ON o.poll_id = t.poll_id LEFT JOIN deltas d ON d.option_id = o.id
  ORDER BY o.id
  ON CONFLICT (option_id) DO UPDATE SET votes = option_tallies.votes + EXCLUDED.votes
  RETURNING option_id, poll_id, votes
), option_lists AS (
  SELECT poll_id, json_agg(json_build_array(option_id, votes) ORDER BY option_id) FILTER (WHERE votes > 0) AS options
  FROM options GROUP BY poll_id
), tallies AS (
  INSERT INTO poll_tallies (poll_id, total_votes, version, updated_at)
  SELECT t.poll_id, t.new_ballots, 1, now() FROM touched t JOIN option_lists l ON l.poll_id = t.poll_id
  ORDER BY t.poll_id
  ON CONFLICT (poll_id) DO UPDATE
    SET total_votes = poll_tallies.total_votes + EXCLUDED.total_votes, version = poll_tallies.version + 1, updated_at = now()
  RETURNING poll_id, total_votes, version, updated_at
), buckets AS (
  INSERT INTO poll_rate_buckets (poll_id, second, votes)
  SELECT t.poll_id, floor(extract(epoch FROM now()))::bigint, t.applied FROM touched t JOIN tallies USING (poll_id)
  ORDER BY t.poll_id
  ON CONFLICT (poll_id, second) DO UPDATE SET votes = poll_rate_buckets.votes + EXCLUDED.votes
  RETURNING poll_id, votes
)
SELECT
  (SELECT string_agg(x.code, '' ORDER BY x.ord) FROM (
     SELECT ord, code FROM decided
     UNION ALL SELECT ord, CASE WHEN code = '' THEN 'b' ELSE code END FROM ranked WHERE code <> '' OR rank > 1
   ) x) AS codes,
  -- A change replaced the ballot's previous vote; a replay of the current vote (read from the same
  -- row version that matched its stream id) answers again what that vote replaced.
  (SELECT json_agg(json_build_array(x.ord, x.option_id, x.receipt_id, (extract(epoch FROM x.cast_at) * 1000)::bigint) ORDER BY x.ord) FROM (
     SELECT ord, old_option_id AS option_id, old_receipt_id AS receipt_id, old_cast_at AS cast_at
     FROM decided WHERE code IN ('c', 's') AND old_receipt_id <> receipt_id
     UNION ALL SELECT ord, replaced_option_id, replaced_receipt_id, replaced_cast_at
     FROM decided WHERE code = 'r' AND replaced_receipt_id <> receipt_id
   ) x) AS replaced,
  (SELECT json_agg(json_build_object(
            'p', t.poll_id, 'v', t.version, 't', t.total_votes, 'o', l.options,
            'u', (extract(epoch FROM t.updated_at) * 1000)::bigint,
            'w', b.votes + (SELECT coalesce(sum(r.votes), 0) FROM poll_rate_buckets r
                            WHERE r.poll_id = t.poll_id AND r.second > floor(extract(epoch FROM now()))::bigint - $2::int
                              AND r.second < floor(extract(epoch FROM now()))::bigint))
          ORDER BY t.poll_id)
     FROM tallies t JOIN option_lists l USING (poll_id) JOIN buckets b USING (poll_id)) AS tallies`;

/** Newest valid entry per (poll, voter) first; invalid entries are ranked apart and never win. */
const APPLY_BATCH_SQL = applyBatchSql('row_number() OVER (PARTITION BY i.code, i.poll_id, i.voter_id ORDER BY i.stream_ms DESC, i.stream_seq DESC, i.ord)');
/** The usual batch, one entry per (poll, voter): every entry is the newest of its pair, no sort needed. */
const APPLY_UNIQUE_BATCH_SQL = applyBatchSql('1::bigint');

/**
 * The statements to prepare (createPrismaClient's `preparedStatements`): a small batch costs
 * PostgreSQL about three times as much CPU when this statement is parsed and planned on every call.
 */
export const BATCH_STATEMENTS: readonly string[] = [APPLY_BATCH_SQL, APPLY_UNIQUE_BATCH_SQL];

/** The JSON parameter: one `[pollId, voterId, optionId, receiptId, streamId, castAt]` per vote. */
export function encodeVotes(votes: readonly ParsedVote[]): string {
  const rows: string[][] = new Array(votes.length);
  for (let i = 0; i < votes.length; i += 1) {
    const { id, entry } = votes[i] as ParsedVote;
    rows[i] = [entry.pollId, entry.voterId, entry.optionId, entry.receiptId, id, entry.castAt];
  }
  return JSON.stringify(rows);
}

function hasRepeatedVoter(votes: readonly ParsedVote[]): boolean {
  const seen = new Set<string>();
  for (const { entry } of votes) {
    const key = `${entry.pollId}\u0000${entry.voterId}`;
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

export async function applyVotesFast(prisma: PrismaClient, votes: readonly ParsedVote[], windowSeconds: number): Promise<FastResult> {
  const rows = await prisma.$queryRawUnsafe<FastRow[]>(hasRepeatedVoter(votes) ? APPLY_BATCH_SQL : APPLY_UNIQUE_BATCH_SQL, encodeVotes(votes), windowSeconds);
  const row = rows[0];
  const codes = row?.codes ?? '';
  if (codes.length !== votes.length) throw new Error(`batch statement answered ${codes.length} outcomes for ${votes.length} votes`);
  return {
    codes,
    replaced: (row?.replaced ?? []).map(([ord, optionId, receiptId, castAtMs]) => ({ ord: Number(ord), optionId, receiptId, castAtMs: Number(castAtMs) })),
    tallies: (row?.tallies ?? []).map((tally) => ({
      pollId: tally.p,
      version: Number(tally.v),
      totalVotes: Number(tally.t),
      options: (tally.o ?? []).map(([optionId, votes]) => ({ optionId, votes: Number(votes) })),
      windowVotes: Number(tally.w),
      updatedAtMs: Number(tally.u),
    })),
  };
}
