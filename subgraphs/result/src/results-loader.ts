// Per-request batching of `Poll.results`: the gateway resolves many Poll entities in one `_entities`
// call, and each asks for its results. Loads requested in the same turn of the event loop are
// collected, deduplicated, and answered with ONE poll_options query plus one GetResults per
// distinct poll (in parallel; TallyService has no batch read).
import { VotemeshError } from '@votemesh/common/errors';
import type { PollOptionSource } from './poll-options.ts';
import { buildPollResults, type PollResults } from './results.ts';
import type { TallySource } from './tally-client.ts';

export interface ResultsLoaderDeps {
  readonly options: PollOptionSource;
  readonly tally: TallySource;
  readonly now: () => Date;
}

export interface ResultsLoader {
  load(pollId: string): Promise<PollResults>;
}

/** Reads the results of one poll now; POLL_NOT_FOUND when it has no options (no such poll). */
export async function readPollResults(deps: ResultsLoaderDeps, pollId: string, optionIds?: readonly string[]): Promise<PollResults> {
  const ids = optionIds ?? (await deps.options.loadOptionIds([pollId])).get(pollId);
  if (!ids) throw pollNotFound(pollId);
  const tally = await deps.tally.getResults(pollId);
  return buildPollResults(ids, tally, deps.now().toISOString());
}

export function pollNotFound(pollId: string): VotemeshError {
  // Worded as the vote subgraph words it (`poll`, `castVote`).
  return new VotemeshError('POLL_NOT_FOUND', `No poll has id ${pollId}`);
}

export function createResultsLoader(deps: ResultsLoaderDeps): ResultsLoader {
  const cache = new Map<string, Promise<PollResults>>();
  let queue: { pollId: string; resolve: (value: PollResults) => void; reject: (error: unknown) => void }[] = [];

  async function dispatch(): Promise<void> {
    const batch = queue;
    queue = [];
    let optionIds: ReadonlyMap<string, readonly string[]>;
    try {
      optionIds = await deps.options.loadOptionIds(batch.map((entry) => entry.pollId));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    await Promise.all(
      batch.map(async (entry) => {
        const ids = optionIds.get(entry.pollId);
        if (!ids) return entry.reject(pollNotFound(entry.pollId));
        try {
          entry.resolve(await readPollResults(deps, entry.pollId, ids));
        } catch (error) {
          entry.reject(error);
        }
      }),
    );
  }

  return {
    load(pollId) {
      const cached = cache.get(pollId);
      if (cached) return cached;
      const promise = new Promise<PollResults>((resolve, reject) => {
        queue.push({ pollId, resolve, reject });
        // setImmediate, not a microtask: graphql-js reaches sibling entities over several promise
        // turns, and they must all land in the same batch.
        if (queue.length === 1) setImmediate(() => void dispatch());
      });
      cache.set(pollId, promise);
      return promise;
    },
  };
}
