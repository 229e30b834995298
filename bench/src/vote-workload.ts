// A reproducible stream workload for the worker benchmark: `voters` voters each vote on three of the
// polls, and a share of the entries are changes of mind (a later entry by the same voter on the same
// poll, always for a different option). The expected tally is computed here, independently of the
// worker: each (poll, voter)'s LAST entry in stream order counts once.
import { randomUUID } from 'node:crypto';

export interface BenchPoll {
  readonly id: string;
  readonly optionIds: readonly string[];
}

export interface WorkloadEntry {
  readonly receiptId: string;
  readonly pollId: string;
  readonly optionId: string;
  readonly voterId: string;
}

export interface Workload {
  readonly entries: readonly WorkloadEntry[];
  /** optionId → votes, from each (poll, voter)'s last entry. */
  readonly expectedVotes: ReadonlyMap<string, number>;
  /** Distinct (poll, voter) pairs = ballots the worker must end with. */
  readonly ballots: number;
  readonly changes: number;
  /** Receipts that must end COUNTED (the last entry of each pair); all others SUPERSEDED. */
  readonly finalReceipts: ReadonlySet<string>;
}

import { seededRandom } from '@votemesh/common/testing/seeded-random';

export { seededRandom };

export const POLLS_PER_VOTER = 3;

export function createPolls(count: number, optionsPerPoll = 4): BenchPoll[] {
  return Array.from({ length: count }, () => ({ id: randomUUID(), optionIds: Array.from({ length: optionsPerPoll }, () => randomUUID()) }));
}

/**
 * `total` entries over `polls`: first votes of distinct (poll, voter) pairs plus `changeShare` of
 * changes of mind, interleaved at random (a change always follows its pair's first vote).
 */
export function buildWorkload(polls: readonly BenchPoll[], total: number, changeShare: number, seed = 42): Workload {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const firstVotes = Math.round(total * (1 - changeShare));
  // Pair k: voter ⌊k/3⌋ on polls (v, v+3, v+7) mod polls — spread evenly, no pair twice.
  const offsets = [0, 3, 7];
  const pairPoll = (k: number): BenchPoll => polls[(Math.floor(k / POLLS_PER_VOTER) + (offsets[k % POLLS_PER_VOTER] ?? 0)) % polls.length] as BenchPoll;
  const order = Array.from({ length: firstVotes }, (_, k) => k);
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }

  const entries: WorkloadEntry[] = [];
  const last = new Map<number, WorkloadEntry>();
  const emitted: number[] = [];
  let nextFirst = 0;
  let changesLeft = total - firstVotes;
  while (nextFirst < firstVotes || changesLeft > 0) {
    const remaining = firstVotes - nextFirst + changesLeft;
    const change = emitted.length > 0 && changesLeft > 0 && random() < changesLeft / remaining;
    const pair = change ? pick(emitted) : (order[nextFirst++] as number);
    const poll = pairPoll(pair);
    const previous = last.get(pair);
    const optionId = previous ? pick(poll.optionIds.filter((id) => id !== previous.optionId)) : pick(poll.optionIds);
    const entry: WorkloadEntry = { receiptId: randomUUID(), pollId: poll.id, optionId, voterId: `voter-${Math.floor(pair / POLLS_PER_VOTER)}` };
    entries.push(entry);
    last.set(pair, entry);
    if (change) changesLeft -= 1;
    else emitted.push(pair);
  }

  const expectedVotes = new Map<string, number>();
  for (const poll of polls) for (const optionId of poll.optionIds) expectedVotes.set(optionId, 0);
  for (const entry of last.values()) expectedVotes.set(entry.optionId, (expectedVotes.get(entry.optionId) ?? 0) + 1);
  return {
    entries,
    expectedVotes,
    ballots: last.size,
    changes: total - firstVotes,
    finalReceipts: new Set([...last.values()].map((entry) => entry.receiptId)),
  };
}
