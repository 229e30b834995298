// Building blocks shared by the scenarios: polls, votes, and the tally a test computes on its own
// from what each voter last cast.
import { waitFor } from '@votemesh/common/testing/wait-for';
import type { GraphQLClient } from './graphql-client.ts';

export interface CreatedPoll {
  readonly id: string;
  readonly options: readonly { id: string; label: string }[];
}

export async function createOpenPoll(client: GraphQLClient, adminToken: string, labels: readonly string[], question = 'Which one?'): Promise<CreatedPoll> {
  const created = await client.data<{ createPoll: CreatedPoll }>(
    `mutation ($input: CreatePollInput!) { createPoll(input: $input) { id options { id label } } }`,
    { input: { question, options: labels } },
    adminToken,
  );
  await client.data(`mutation ($id: ID!) { openPoll(id: $id) { id status } }`, { id: created.createPoll.id }, adminToken);
  return created.createPoll;
}

export async function castVote(client: GraphQLClient, token: string, pollId: string, optionId: string): Promise<string> {
  const data = await client.data<{ castVote: { id: string; status: string } }>(
    `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }`,
    { pollId, optionId },
    token,
  );
  return data.castVote.id;
}

export interface PollResultsView {
  readonly totalVotes: number;
  readonly version: number;
  readonly options: readonly { votes: number; share: number; option: { id: string; label: string } }[];
}

/** The poll's results; fails when the poll is missing or its results are down (null, with an error). */
export async function readResults(client: GraphQLClient, pollId: string): Promise<PollResultsView> {
  const data = await client.data<{ poll: { results: PollResultsView | null } | null }>(
    `query ($id: ID!) { poll(id: $id) { results { totalVotes version options { votes share option { id label } } } } }`,
    { id: pollId },
  );
  if (!data.poll?.results) throw new Error(`poll ${pollId} has no results: ${JSON.stringify(data)}`);
  return data.poll.results;
}

/** Waits until every receipt has left PENDING; returns the statuses it found then (COUNTED may later become SUPERSEDED). */
export async function waitForFinalReceipts(
  client: GraphQLClient,
  receipts: readonly { id: string; token: string }[],
  timeoutMs = 60_000,
): Promise<Map<string, string>> {
  const final = new Map<string, string>();
  await waitFor(
    async () => {
      for (const receipt of receipts) {
        if (final.has(receipt.id)) continue;
        const data = await client.data<{ voteReceipt: { status: string } | null }>(
          `query ($id: ID!) { voteReceipt(id: $id) { status } }`,
          { id: receipt.id },
          receipt.token,
        );
        const status = data.voteReceipt?.status;
        if (!status || status === 'PENDING') return false;
        final.set(receipt.id, status);
      }
      return true;
    },
    { timeoutMs, intervalMs: 100, what: 'every vote receipt to be final' },
  );
  return final;
}

/** The expected tally: each voter's last cast option counts once. */
export function expectedTally(lastChoiceByVoter: ReadonlyMap<string, string>): Map<string, number> {
  const tally = new Map<string, number>();
  for (const optionId of lastChoiceByVoter.values()) tally.set(optionId, (tally.get(optionId) ?? 0) + 1);
  return tally;
}

/** Runs `worker` over `items` with at most `concurrency` in flight, preserving per-item order. */
export async function runConcurrently<T>(items: readonly T[], concurrency: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await worker(item);
    }
  });
  await Promise.all(lanes);
}
