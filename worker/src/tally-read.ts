// Reads the committed tally of one poll in a single statement (one snapshot): totals and version
// from poll_tallies, per-option counts, and votes/s over the rolling window from the rate buckets.
import type { OptionCount } from '@votemesh/common/contracts/bus';
import type { PrismaClient } from '@votemesh/common/db/client';
import type { CommittedTally } from './tally-sql.ts';

export interface TallySnapshot {
  readonly pollId: string;
  /** 0 until the first batch touched the poll. */
  readonly version: number;
  readonly totalVotes: number;
  readonly options: readonly OptionCount[];
  readonly votesPerSecond: number;
  readonly updatedAt: string;
  readonly committedAtMs: number;
  readonly traceparent?: string;
}

interface Row {
  poll_id: string;
  total_votes: bigint;
  version: bigint;
  updated_at: Date;
  options: { optionId: string; votes: number }[] | null;
  window_votes: bigint;
}

/** The poll's tally, or undefined when no poll has that id. */
export async function readPollTally(prisma: PrismaClient, pollId: string, windowSeconds: number): Promise<TallySnapshot | undefined> {
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT p.id::text AS poll_id,
           coalesce(t.total_votes, 0) AS total_votes,
           coalesce(t.version, 0) AS version,
           coalesce(t.updated_at, p.created_at) AS updated_at,
           (SELECT json_agg(json_build_object('optionId', o.option_id, 'votes', o.votes) ORDER BY o.option_id)
              FROM option_tallies o WHERE o.poll_id = p.id AND o.votes > 0) AS options,
           (SELECT coalesce(sum(r.votes), 0) FROM poll_rate_buckets r
              WHERE r.poll_id = p.id AND r.second > floor(extract(epoch FROM now()))::bigint - ${windowSeconds}::int) AS window_votes
    FROM polls p LEFT JOIN poll_tallies t ON t.poll_id = p.id
    WHERE p.id = ${pollId}::uuid`;
  const row = rows[0];
  if (!row) return undefined;
  // Version 0: nothing committed yet (updated_at is then the poll's creation), and the contract
  // says committedAt is 0 before the first vote.
  return { ...fromRow(row, windowSeconds), committedAtMs: row.version === 0n ? 0 : row.updated_at.getTime() };
}

/**
 * The committed tallies of the given polls, one statement for all (one snapshot: a poll's counts
 * are exactly those its version names, since every writer changes them in the transaction that
 * bumps the version). Polls without a tally row are left out. Bumps nothing. Each carries the time
 * of the commit that produced its version as `committedAtMs` (its updated_at), as readPollTally does.
 */
export async function readPollTallies(prisma: PrismaClient, pollIds: readonly string[], windowSeconds: number): Promise<CommittedTally[]> {
  if (pollIds.length === 0) return [];
  const rows = await prisma.$queryRaw<Row[]>`
    SELECT t.poll_id::text AS poll_id, t.total_votes, t.version, t.updated_at,
           (SELECT json_agg(json_build_object('optionId', o.option_id, 'votes', o.votes) ORDER BY o.option_id)
              FROM option_tallies o WHERE o.poll_id = t.poll_id AND o.votes > 0) AS options,
           (SELECT coalesce(sum(r.votes), 0) FROM poll_rate_buckets r
              WHERE r.poll_id = t.poll_id AND r.second > floor(extract(epoch FROM now()))::bigint - ${windowSeconds}::int) AS window_votes
    FROM poll_tallies t
    WHERE t.poll_id = ANY(${[...pollIds]}::uuid[])
    ORDER BY t.poll_id`;
  return rows.map((row) => ({ ...fromRow(row, windowSeconds), committedAtMs: row.updated_at.getTime() }));
}

function fromRow(row: Row, windowSeconds: number): CommittedTally {
  return {
    pollId: row.poll_id,
    version: Number(row.version),
    totalVotes: Number(row.total_votes),
    options: (row.options ?? []).map((option) => ({ optionId: option.optionId, votes: Number(option.votes) })),
    votesPerSecond: Number(row.window_votes) / windowSeconds,
    updatedAt: row.updated_at.toISOString(),
  };
}
