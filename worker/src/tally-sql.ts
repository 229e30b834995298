// The PostgreSQL half of applying a batch. Decides every vote's outcome against the committed
// ballots and returns the new tally of each poll it changed (and the current one of each poll only
// its replayed votes name, see withReplayedTallies). `commitVotes` runs the one-statement
// fast path (batch-sql.ts) and hands the votes that lost a ballot race to `commitVotesLocked`: ONE
// interactive transaction, a handful of set-based statements (unnest arrays) with explicit row
// locks where races happened (ballots-sql.ts). Each commit is complete and consistent on its own.
//
// Lock order is the same in every replica where it matters most (the hot tally rows):
// ballots (sorted by poll, voter) → option_tallies (by option) → poll_tallies → poll_rate_buckets
// (by poll). Every transaction runs under READ COMMITTED, whatever the server's default (see
// WORKER_DATABASE_OPTIONS), and reads while holding those row locks, so the tally returned for a
// poll is exactly the state its new `version` names.
import type { OptionCount } from '@votemesh/common/contracts/bus';
import { Prisma, type CreatePrismaClientOptions, type PrismaClient } from '@votemesh/common/db/client';
import { resolveBallots, type BallotChange, type PreviousBallot } from './ballots-sql.ts';
import { applyVotesFast, BATCH_STATEMENTS, OUTCOME_CODES, type FastResult, type OutcomeCode } from './batch-sql.ts';
import { readPollTallies } from './tally-read.ts';
import { withTransactionRetry, type RetryOptions } from './retry.ts';
import { compareStreamIds, type ParsedVote, type VoteOutcome } from './outcomes.ts';

type Tx = Prisma.TransactionClient;

/**
 * How the worker's PostgreSQL client is made (main.ts; the tests and drain script do the same).
 *
 * Isolation: READ COMMITTED for every transaction, named here rather than inherited from the
 * server's, database's or role's default_transaction_isolation, which an operator may have raised.
 * The one-statement fast path (batch-sql.ts) runs outside `$transaction`, as its own implicit
 * transaction, so the session default is the only place its level can be named; the locking path
 * names it on its transaction as well (commitVotesLocked). Why READ COMMITTED and nothing stricter:
 * both paths are written for it. Their upserts of option and tally rows (ON CONFLICT DO UPDATE)
 * wait for a concurrent writer of the same poll and then work on its committed row, and the fast
 * path sees a ballot changed after its snapshot as a lost race (code `L`, decided again under row
 * locks). Under REPEATABLE READ or SERIALIZABLE the same waits end in a serialization failure
 * (40001) instead, so every batch that met another lane or replica on a poll would be rolled back and
 * re-run whole; and the locking path's tally read-back is exact only because each of its statements
 * takes a fresh snapshot (applyPollTallies). Nothing is given up: every read the worker makes that
 * must be consistent is one statement (one snapshot) or runs under the row locks it needs.
 * The TallyService reads (tally-read.ts) are single statements too and get the same level.
 */
export const WORKER_DATABASE_OPTIONS = {
  preparedStatements: BATCH_STATEMENTS,
  defaultTransactionIsolation: 'read committed',
} as const satisfies CreatePrismaClientOptions;

export interface DecidedVote {
  readonly vote: ParsedVote;
  readonly outcome: VoteOutcome;
}

/**
 * A receipt that was COUNTED earlier and lost its ballot to a newer vote in this batch, or that a
 * vote replayed in this batch replaced when it was first applied (that settle may never have
 * reached Redis; marking it SUPERSEDED again is harmless).
 */
export interface ReplacedReceipt {
  readonly receiptId: string;
  readonly pollId: string;
  readonly optionId: string;
  readonly voterId: string;
  readonly castAt: string;
  readonly replacedBy: string;
  /** The W3C traceparent the replacing vote's castVote carried: its trace caused this supersession. */
  readonly replacedByTraceparent?: string;
}

export interface CommittedTally {
  readonly pollId: string;
  readonly version: number;
  readonly totalVotes: number;
  readonly options: readonly OptionCount[];
  readonly votesPerSecond: number;
  /** When the tally last changed: the transaction that produced this version (PostgreSQL's clock). */
  readonly updatedAt: string;
  /**
   * Set only on a tally read back rather than produced by this commit (withReplayedTallies): the
   * time of the commit that produced it, its updatedAt. A tally this commit produced leaves it
   * unset, and the settle stamps the batch's commit time.
   */
  readonly committedAtMs?: number;
}

export interface CommitResult {
  readonly decided: readonly DecidedVote[];
  readonly replaced: readonly ReplacedReceipt[];
  readonly tallies: readonly CommittedTally[];
}

export interface CommitOptions {
  readonly windowSeconds: number;
  /** Interactive transaction timeout. @default 30000 */
  readonly timeoutMs?: number;
  /** Deadlocks and serialization failures are retried (each commit on its own). */
  readonly retry?: RetryOptions;
  /** Called with the number of votes that lost a ballot race and go through the locking path. */
  readonly onBallotRace?: (votes: number) => void;
}

const keyOf = (pollId: string, voterId: string): string => `${pollId}\u0000${voterId}`;
const byPollVoter = (a: ParsedVote, b: ParsedVote): number =>
  a.entry.pollId < b.entry.pollId
    ? -1
    : a.entry.pollId > b.entry.pollId
      ? 1
      : a.entry.voterId < b.entry.voterId
        ? -1
        : a.entry.voterId > b.entry.voterId
          ? 1
          : 0;

/**
 * Applies the votes: first the one-statement fast path (batch-sql.ts); the few votes whose ballot a
 * concurrent batch changed meanwhile are then decided through the locking path below, in a
 * transaction of their own. Each of the two commits is complete and consistent on its own.
 */
export async function commitVotes(prisma: PrismaClient, votes: readonly ParsedVote[], options: CommitOptions): Promise<CommitResult> {
  if (votes.length === 0) return { decided: [], replaced: [], tallies: [] };
  // Each commit retries on its own: retrying the fast one after the locked one failed would replay
  // the committed votes and lose their outcomes (replaced receipts, tallies).
  const fastResult = await withTransactionRetry(() => applyVotesFast(prisma, votes, options.windowSeconds), options.retry);
  const fast = fromFastResult(votes, fastResult, options.windowSeconds);
  if (fast.lost.length === 0) return withReplayedTallies(prisma, fast, options.windowSeconds);
  options.onBallotRace?.(fast.lost.length);
  const locked = await withTransactionRetry(() => commitVotesLocked(prisma, fast.lost, options), options.retry);
  // The locking path committed after the fast one: its tally of a poll is the newer one.
  const newer = new Set(locked.tallies.map((tally) => tally.pollId));
  return withReplayedTallies(
    prisma,
    {
      decided: [...fast.decided, ...locked.decided],
      replaced: [...fast.replaced, ...locked.replaced],
      tallies: [...fast.tallies.filter((tally) => !newer.has(tally.pollId)), ...locked.tallies],
    },
    options.windowSeconds,
  );
}

/**
 * Adds the current tally of every poll that votes replayed in this commit changed and the commit
 * itself did not. A replay was committed by an earlier attempt whose tally may never have been
 * published: the fast statement committed and the locking transaction after it failed, so the lane
 * re-applies the whole batch; a bisection (isolate.ts) re-commits a part an earlier attempt
 * committed; a batch committed and its settle never reached Redis. A replay touches no count, so
 * without this the poll's committed version would reach subscribers only with its next change,
 * never if the poll goes quiet. Republishing a version subscribers already have is harmless: they
 * drop versions they have. Replays are rare (recovery, claims, retries), so batches without any
 * cost one pass over the outcomes and no query.
 */
async function withReplayedTallies(prisma: PrismaClient, result: CommitResult, windowSeconds: number): Promise<CommitResult> {
  let replayed: Set<string> | undefined;
  for (const { vote, outcome } of result.decided) {
    if (outcome.status === 'COUNTED' && outcome.change === 'replay') (replayed ??= new Set()).add(vote.entry.pollId);
  }
  if (replayed === undefined) return result;
  for (const tally of result.tallies) replayed.delete(tally.pollId);
  if (replayed.size === 0) return result;
  // One statement: one snapshot in which each poll's counts are those its version names. Each
  // keeps the time of the commit that produced it (readPollTallies), not this re-apply's: nothing
  // about the tally changed now, and committedAt is documented as that commit's time.
  const current = await readPollTallies(prisma, [...replayed], windowSeconds);
  return { ...result, tallies: [...result.tallies, ...current] };
}

/** The concurrency-safe path on its own: an interactive transaction with explicit row locks where races happened. */
export async function commitVotesLocked(prisma: PrismaClient, votes: readonly ParsedVote[], options: CommitOptions): Promise<CommitResult> {
  if (votes.length === 0) return { decided: [], replaced: [], tallies: [] };
  return prisma.$transaction((tx) => applyInTransaction(tx, votes, options), {
    // Named here too (the session default is READ COMMITTED already, WORKER_DATABASE_OPTIONS), so
    // this transaction is right on any client: the tally read-back is exact only because each
    // statement takes a fresh snapshot (applyPollTallies). Under REPEATABLE READ or SERIALIZABLE
    // every statement sees the first one's snapshot, and bumping a tally row a concurrent writer
    // changed since fails with a serialization error instead of waiting for it.
    isolationLevel: Prisma.TransactionIsolationLevel.ReadCommitted,
    timeout: options.timeoutMs ?? 30_000,
    maxWait: 10_000,
  });
}

/**
 * What each outcome code means, for both paths: the fast statement answers the codes and the
 * locking path (validatePairs, applyInTransaction) decides the same cases, so the reason a receipt
 * shows never depends on which path decided the vote.
 */
const OUTCOMES: Readonly<Record<Exclude<OutcomeCode, typeof OUTCOME_CODES.lostRace>, VoteOutcome>> = {
  [OUTCOME_CODES.new]: { status: 'COUNTED', change: 'new' },
  [OUTCOME_CODES.changed]: { status: 'COUNTED', change: 'changed' },
  [OUTCOME_CODES.sameOption]: { status: 'COUNTED', change: 'same-option' },
  [OUTCOME_CODES.replay]: { status: 'COUNTED', change: 'replay' },
  [OUTCOME_CODES.older]: { status: 'SUPERSEDED', reason: 'A newer vote by the same voter was already counted' },
  [OUTCOME_CODES.supersededInBatch]: { status: 'SUPERSEDED', reason: 'A newer vote by the same voter arrived in the same batch' },
  [OUTCOME_CODES.pollNotFound]: { status: 'REJECTED', reason: 'POLL_NOT_FOUND: the poll does not exist' },
  [OUTCOME_CODES.optionNotInPoll]: { status: 'REJECTED', reason: 'OPTION_NOT_IN_POLL: the option does not belong to the poll' },
  /** A vote counts only if cast before the poll's closes_at (see batch-sql.ts for why it is decided here). */
  [OUTCOME_CODES.pollClosed]: { status: 'REJECTED', reason: 'POLL_NOT_OPEN: the poll closed before this vote was cast' },
};
const SUPERSEDED_IN_BATCH = OUTCOMES[OUTCOME_CODES.supersededInBatch];
const SUPERSEDED_OLDER = OUTCOMES[OUTCOME_CODES.older];
const POLL_CLOSED = OUTCOMES[OUTCOME_CODES.pollClosed];

const isOutcomeCode = (code: string): code is keyof typeof OUTCOMES => Object.hasOwn(OUTCOMES, code);

function fromFastResult(votes: readonly ParsedVote[], result: FastResult, windowSeconds: number): CommitResult & { lost: ParsedVote[] } {
  const decided: DecidedVote[] = [];
  const lost: ParsedVote[] = [];
  for (let i = 0; i < votes.length; i += 1) {
    const vote = votes[i] as ParsedVote;
    const code = result.codes[i] as string;
    if (code === OUTCOME_CODES.lostRace) {
      lost.push(vote);
      continue;
    }
    if (!isOutcomeCode(code)) throw new Error(`batch statement answered an unknown outcome code "${code}"`);
    decided.push({ vote, outcome: OUTCOMES[code] });
  }
  const replaced: ReplacedReceipt[] = result.replaced.map((old) => {
    const by = votes[old.ord - 1];
    if (!by) throw new Error(`batch statement answered an unknown ordinal ${old.ord}`);
    return replacedReceipt({ receiptId: old.receiptId, optionId: old.optionId, castAt: new Date(old.castAtMs) }, by);
  });
  const tallies: CommittedTally[] = result.tallies.map((tally) => ({
    pollId: tally.pollId,
    version: tally.version,
    totalVotes: tally.totalVotes,
    options: tally.options,
    votesPerSecond: tally.windowVotes / windowSeconds,
    updatedAt: new Date(tally.updatedAtMs).toISOString(),
  }));
  return { decided, replaced, tallies, lost };
}

async function applyInTransaction(tx: Tx, votes: readonly ParsedVote[], options: CommitOptions): Promise<CommitResult> {
  const decided: DecidedVote[] = [];
  const replaced: ReplacedReceipt[] = [];

  // 1. The poll exists, the option belongs to it and the vote was cast before the poll closed: one
  //    query for all distinct pairs. Done before step 2 so a voter's vote cast after the close never
  //    supersedes their earlier one.
  const valid = await validatePairs(tx, votes, decided);

  // 2. Newest entry per (poll, voter) within the batch; the older ones are superseded right away.
  const newest = new Map<string, ParsedVote>();
  for (const vote of valid) {
    const key = keyOf(vote.entry.pollId, vote.entry.voterId);
    const seen = newest.get(key);
    if (!seen) newest.set(key, vote);
    else if (compareStreamIds(vote, seen) > 0) {
      decided.push({ vote: seen, outcome: SUPERSEDED_IN_BATCH });
      newest.set(key, vote);
    } else decided.push({ vote, outcome: SUPERSEDED_IN_BATCH });
  }

  // 3. Ballots, in (poll, voter) order (see ballots-sql.ts).
  const winners = [...newest.values()].sort(byPollVoter);
  const changes = winners.length === 0 ? [] : await resolveBallots(tx, winners);

  const deltas = new Map<string, { pollId: string; delta: number }>();
  const perPoll = new Map<string, { newBallots: number; applied: number }>();
  const bump = (optionId: string, pollId: string, delta: number): void => {
    const entry = deltas.get(optionId) ?? { pollId, delta: 0 };
    entry.delta += delta;
    deltas.set(optionId, entry);
  };
  const touch = (pollId: string, isNew: boolean): void => {
    const entry = perPoll.get(pollId) ?? { newBallots: 0, applied: 0 };
    entry.applied += 1;
    if (isNew) entry.newBallots += 1;
    perPoll.set(pollId, entry);
  };

  for (const [index, vote] of winners.entries()) {
    const { pollId, voterId, optionId, receiptId } = vote.entry;
    const change = changes[index] as BallotChange;
    switch (change.kind) {
      case 'new':
        decided.push({ vote, outcome: { status: 'COUNTED', change: 'new' } });
        bump(optionId, pollId, 1);
        touch(pollId, true);
        break;
      case 'changed': {
        const sameOption = change.previous.optionId === optionId;
        decided.push({ vote, outcome: { status: 'COUNTED', change: sameOption ? 'same-option' : 'changed' } });
        if (!sameOption) {
          bump(change.previous.optionId, pollId, -1);
          bump(optionId, pollId, 1);
        }
        touch(pollId, false);
        if (change.previous.receiptId !== receiptId) replaced.push(replacedReceipt(change.previous, vote));
        break;
      }
      case 'replay':
        decided.push({ vote, outcome: { status: 'COUNTED', change: 'replay' } });
        if (change.replaced) replaced.push(replacedReceipt(change.replaced, vote));
        break;
      case 'older':
        decided.push({ vote, outcome: SUPERSEDED_OLDER });
        break;
    }
  }

  // 4. Counts, versions and the rate window.
  const touched = [...perPoll.keys()].sort();
  if (touched.length === 0) return { decided, replaced, tallies: [] };
  await applyOptionDeltas(tx, deltas);
  const tallies = await applyPollTallies(tx, touched, perPoll, options.windowSeconds);
  return { decided, replaced, tallies };
}

function replacedReceipt(previous: PreviousBallot, by: ParsedVote): ReplacedReceipt {
  const { pollId, voterId, receiptId, traceparent } = by.entry;
  return {
    receiptId: previous.receiptId,
    pollId,
    optionId: previous.optionId,
    voterId,
    castAt: previous.castAt.toISOString(),
    replacedBy: receiptId,
    ...(traceparent ? { replacedByTraceparent: traceparent } : {}),
  };
}

async function validatePairs(tx: Tx, votes: readonly ParsedVote[], decided: DecidedVote[]): Promise<ParsedVote[]> {
  const pairs = new Map<string, { pollId: string; optionId: string }>();
  for (const { entry } of votes) pairs.set(`${entry.pollId}/${entry.optionId}`, { pollId: entry.pollId, optionId: entry.optionId });
  const list = [...pairs.values()];
  const rows = await tx.$queryRaw<{ poll_id: string; option_id: string; poll_exists: boolean; option_in_poll: boolean; closes_at: Date | null }[]>`
    SELECT v.poll_id::text AS poll_id, v.option_id::text AS option_id, p.id IS NOT NULL AS poll_exists, p.closes_at,
           EXISTS (SELECT 1 FROM poll_options o WHERE o.id = v.option_id AND o.poll_id = v.poll_id) AS option_in_poll
    FROM unnest(${list.map((p) => p.pollId)}::uuid[], ${list.map((p) => p.optionId)}::uuid[]) AS v(poll_id, option_id)
    LEFT JOIN polls p ON p.id = v.poll_id`;
  const verdict = new Map<string, { rejected: VoteOutcome | null; closesAtMs: number | null }>();
  for (const row of rows) {
    const rejected = !row.poll_exists ? OUTCOMES[OUTCOME_CODES.pollNotFound] : !row.option_in_poll ? OUTCOMES[OUTCOME_CODES.optionNotInPoll] : null;
    verdict.set(`${row.poll_id}/${row.option_id}`, { rejected, closesAtMs: row.closes_at?.getTime() ?? null });
  }
  const valid: ParsedVote[] = [];
  for (const vote of votes) {
    const pair = verdict.get(`${vote.entry.pollId}/${vote.entry.optionId}`);
    if (!pair) decided.push({ vote, outcome: { status: 'REJECTED', reason: 'the poll and option could not be validated' } });
    else if (pair.rejected !== null) decided.push({ vote, outcome: pair.rejected });
    // castAt is normalised to milliseconds by splitEntries, as closes_at is stored (timestamptz(3)).
    else if (pair.closesAtMs !== null && Date.parse(vote.entry.castAt) >= pair.closesAtMs) decided.push({ vote, outcome: POLL_CLOSED });
    else valid.push(vote);
  }
  return valid;
}

async function applyOptionDeltas(tx: Tx, deltas: ReadonlyMap<string, { pollId: string; delta: number }>): Promise<void> {
  const changes = [...deltas.entries()].filter(([, change]) => change.delta !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (changes.length === 0) return;
  await tx.$executeRaw`
    INSERT INTO option_tallies (option_id, poll_id, votes)
    SELECT v.option_id, v.poll_id, v.delta
    FROM unnest(${changes.map(([optionId]) => optionId)}::uuid[], ${changes.map(([, c]) => c.pollId)}::uuid[], ${changes.map(([, c]) => c.delta)}::bigint[])
         WITH ORDINALITY AS v(option_id, poll_id, delta, ord)
    ORDER BY v.ord
    ON CONFLICT (option_id) DO UPDATE SET votes = option_tallies.votes + EXCLUDED.votes`;
}

/**
 * Bumps total and version of every touched poll and adds the applied votes to the current second's
 * rate bucket (one statement), then reads back the full tally (a second one). The bucket second is
 * the database's clock at apply time (not castAt): votes/s then says how fast results are moving, a
 * backlog drained after an outage shows up as the burst it is instead of landing in seconds already
 * outside the window, and every replica shares one clock.
 *
 * Why the read-back is a statement of its own: a data-modifying CTE reads other rows from the
 * statement's snapshot, taken before the upsert waited for a poll_tallies row another writer held.
 * That writer's option counts (and rate buckets) committed after the snapshot, so a read in the same
 * statement returned its version + 1 with counts from before it (applyOptionDeltas locks only the
 * options this transaction changes). Under READ COMMITTED the next statement takes a fresh snapshot,
 * and it is exact: every writer of a poll's counts (this path, the fast path, another replica)
 * changes its option rows and rate bucket in the same transaction that bumps its poll_tallies row,
 * so every writer that committed before this one took that row lock is in the snapshot, and none can
 * commit a change to the poll while this transaction holds the lock. The snapshot therefore shows
 * exactly the state the returned `version` names (this transaction's own changes included).
 */
async function applyPollTallies(
  tx: Tx,
  polls: readonly string[],
  perPoll: ReadonlyMap<string, { newBallots: number; applied: number }>,
  windowSeconds: number,
): Promise<CommittedTally[]> {
  const totals = polls.map((pollId) => perPoll.get(pollId)?.newBallots ?? 0);
  const applied = polls.map((pollId) => perPoll.get(pollId)?.applied ?? 0);
  const bumped = await tx.$queryRaw<{ poll_id: string; total_votes: bigint; version: bigint; updated_at: Date }[]>`
    WITH input AS (
      SELECT * FROM unnest(${polls}::uuid[], ${totals}::bigint[], ${applied}::int[]) WITH ORDINALITY AS v(poll_id, new_ballots, applied, ord)
    ), tallies AS (
      INSERT INTO poll_tallies (poll_id, total_votes, version, updated_at)
      SELECT poll_id, new_ballots, 1, now() FROM input ORDER BY ord
      ON CONFLICT (poll_id) DO UPDATE
        SET total_votes = poll_tallies.total_votes + EXCLUDED.total_votes, version = poll_tallies.version + 1, updated_at = now()
      RETURNING poll_id, total_votes, version, updated_at
    ), buckets AS (
      INSERT INTO poll_rate_buckets (poll_id, second, votes)
      SELECT poll_id, floor(extract(epoch FROM now()))::bigint, applied FROM input ORDER BY ord
      ON CONFLICT (poll_id, second) DO UPDATE SET votes = poll_rate_buckets.votes + EXCLUDED.votes
    )
    SELECT t.poll_id::text AS poll_id, t.total_votes, t.version, t.updated_at FROM tallies t`;
  // now() is the transaction's start in both statements: the same current second.
  const counts = await tx.$queryRaw<{ poll_id: string; options: { optionId: string; votes: number }[] | null; window_votes: bigint }[]>`
    SELECT v.poll_id::text AS poll_id,
      (SELECT json_agg(json_build_object('optionId', o.option_id, 'votes', o.votes) ORDER BY o.option_id)
         FROM option_tallies o WHERE o.poll_id = v.poll_id AND o.votes > 0) AS options,
      (SELECT coalesce(sum(r.votes), 0) FROM poll_rate_buckets r
         WHERE r.poll_id = v.poll_id AND r.second > floor(extract(epoch FROM now()))::bigint - ${windowSeconds}::int) AS window_votes
    FROM unnest(${polls}::uuid[]) AS v(poll_id)`;
  const byPoll = new Map(counts.map((row) => [row.poll_id, row]));
  return bumped.map((row) => {
    const read = byPoll.get(row.poll_id);
    if (!read) throw new Error(`tally read-back is missing poll ${row.poll_id}`);
    return {
      pollId: row.poll_id,
      version: Number(row.version),
      totalVotes: Number(row.total_votes),
      options: (read.options ?? []).map((option) => ({ optionId: option.optionId, votes: Number(option.votes) })),
      votesPerSecond: Number(read.window_votes) / windowSeconds,
      updatedAt: row.updated_at.toISOString(),
    };
  });
}

/** Drops rate buckets that left every window long ago; run now and then, outside the hot path. */
export async function pruneRateBuckets(prisma: PrismaClient, keepSeconds: number): Promise<number> {
  return prisma.$executeRaw`DELETE FROM poll_rate_buckets WHERE second < floor(extract(epoch FROM now()))::bigint - ${keepSeconds}::int`;
}
