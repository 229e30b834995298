// The results read model: turns a committed tally (what the worker's TallyService answers) and the
// poll's option list into what `PollResults` shows. Pure functions only — no I/O, no clock — so
// the rules below are unit-tested exhaustively (test/results.test.ts).
//
// Share rule (documented contract, see docs for PollResults.share):
// - A share is a percentage with ONE decimal, i.e. an integer number of tenths of a percent.
// - When totalVotes > 0 the tenths are apportioned with the largest-remainder (Hamilton) method:
//   every option first gets floor(votes × 1000 / total) tenths; the tenths still missing to reach
//   exactly 1000 go one each to the options with the largest remainders (votes × 1000 mod total).
//   Equal remainders are broken by option position: the earlier option (smaller position) wins.
//   The tenths therefore sum to exactly 1000 (= 100.0 %), every share is within 0.1 of the exact
//   percentage, and an option with more votes never shows a smaller share than one with fewer.
// - When totalVotes = 0 every share is 0.
// All arithmetic is on integers (votes × 1000 stays far below 2^53), so no floating-point drift.

export interface OptionVotes {
  readonly optionId: string;
  readonly votes: number;
}

/** A committed tally of one poll, already parsed from the wire (see tally-client.ts). */
export interface TallySnapshot {
  readonly pollId: string;
  /** Grows by one per applied batch that touched the poll; 0 = no votes yet. */
  readonly version: number;
  /** Options with at least one counted vote; options missing here have 0 votes. */
  readonly options: readonly OptionVotes[];
  readonly votesPerSecond: number;
  /** ISO-8601 time of the last change, or undefined when the poll has never been touched. */
  readonly updatedAt: string | undefined;
  /** Epoch ms of the commit that produced this tally; 0 when unknown. */
  readonly committedAtMs: number;
  /** W3C traceparent of the worker batch that committed it, when known (telemetry only). */
  readonly traceparent?: string;
}

export interface OptionResult {
  readonly optionId: string;
  readonly votes: number;
  /** Percent with one decimal (see the share rule above). */
  readonly share: number;
}

export interface PollResults {
  readonly pollId: string;
  readonly totalVotes: number;
  /** Every option of the poll, in position order. */
  readonly options: readonly OptionResult[];
  /** Ids of all options holding the maximum vote count (empty when there are no votes). */
  readonly leaders: readonly string[];
  readonly isTie: boolean;
  readonly votesPerSecond: number;
  readonly updatedAt: string;
  readonly version: number;
  readonly committedAtMs: number;
  /**
   * Set on live updates only (a tally the worker just committed, not the state read on subscribe
   * or reconnect): what push-telemetry.ts puts in the pushed event's `extensions`.
   */
  readonly commit?: CommitInfo;
}

export interface CommitInfo {
  readonly committedAtMs: number;
  /** W3C traceparent of the worker batch span that committed it. */
  readonly traceparent?: string;
}

const TENTHS_IN_WHOLE = 1000;

/**
 * Apportions 100.0 % over `votes` (given in position order) and returns each share in tenths of a
 * percent. Sums to exactly 1000 when any vote exists; all zeros otherwise.
 */
export function apportionTenths(votes: readonly number[]): number[] {
  for (const count of votes) {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`vote counts must be non-negative integers, got ${count}`);
  }
  const total = votes.reduce((sum, count) => sum + count, 0);
  if (total === 0) return votes.map(() => 0);
  const tenths = votes.map((count) => Math.floor((count * TENTHS_IN_WHOLE) / total));
  const remainders = votes.map((count, index) => ({ index, remainder: (count * TENTHS_IN_WHOLE) % total }));
  let missing = TENTHS_IN_WHOLE - tenths.reduce((sum, value) => sum + value, 0);
  // Larger remainder first; on equal remainders the smaller index (earlier position) first.
  remainders.sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of remainders) {
    if (missing === 0) break;
    tenths[index] = (tenths[index] ?? 0) + 1;
    missing -= 1;
  }
  return tenths;
}

/** The shares as percentages with one decimal (tenths / 10). */
export function computeShares(votes: readonly number[]): number[] {
  return apportionTenths(votes).map((tenths) => tenths / 10);
}

/** Indexes (into `votes`) of every entry that holds the maximum; empty when all are 0. */
export function leaderIndexes(votes: readonly number[]): number[] {
  const max = Math.max(0, ...votes);
  if (max === 0) return [];
  return votes.flatMap((count, index) => (count === max ? [index] : []));
}

/**
 * Builds the results of one poll. `optionIds` is the poll's full option list in position order;
 * options absent from the tally count 0, and tally entries for ids outside the list are ignored,
 * so `totalVotes` is the sum over the poll's own options and the shares always add up.
 * `nowIso` stands in for `updatedAt` when the tally has never been touched (no votes yet).
 */
export function buildPollResults(optionIds: readonly string[], tally: TallySnapshot, nowIso: string): PollResults {
  const votesById = new Map(tally.options.map((entry) => [entry.optionId, entry.votes]));
  const votes = optionIds.map((id) => votesById.get(id) ?? 0);
  const shares = computeShares(votes);
  const leading = new Set(leaderIndexes(votes));
  const leaders = optionIds.filter((_, index) => leading.has(index));
  return {
    pollId: tally.pollId,
    totalVotes: votes.reduce((sum, count) => sum + count, 0),
    options: optionIds.map((optionId, index) => ({ optionId, votes: votes[index] ?? 0, share: shares[index] ?? 0 })),
    leaders,
    isTie: leaders.length > 1,
    votesPerSecond: tally.votesPerSecond,
    updatedAt: tally.updatedAt ?? (tally.committedAtMs > 0 ? new Date(tally.committedAtMs).toISOString() : nowIso),
    version: tally.version,
    committedAtMs: tally.committedAtMs,
  };
}
