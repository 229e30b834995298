// A batch that PostgreSQL refuses for its DATA (SQLSTATE class 22 or 23, see retry.ts) fails the
// same way every time it is retried: one bad entry would hold the whole group back forever. Such a
// batch is bisected instead: each half is committed on its own, a failing half is split again, and
// an entry that fails alone is refused (REJECTED with PostgreSQL's message; the caller acks it).
// Everything else in the batch commits, in at most 2·log2(n) extra statements per bad entry.
// Errors of any other kind (connection, deadlock after its retries, a bug in the SQL) propagate:
// they are not the entries' fault and the batch is retried whole.
import type { ParsedVote } from './outcomes.ts';
import { databaseErrorOf, isDataError, type DatabaseError } from './retry.ts';
import type { CommitResult, CommittedTally } from './tally-sql.ts';

export interface RefusedVote {
  readonly vote: ParsedVote;
  readonly error: DatabaseError;
}

export interface IsolatedCommit extends CommitResult {
  /** Entries PostgreSQL refused on their own; nothing of theirs was committed. */
  readonly refused: readonly RefusedVote[];
}

export interface IsolateHooks {
  /** Called when a part of `size` votes failed with a data error and is split in two. */
  readonly onSplit?: (size: number, error: DatabaseError) => void;
}

export async function commitIsolatingRefused(
  votes: readonly ParsedVote[],
  commit: (votes: readonly ParsedVote[]) => Promise<CommitResult>,
  hooks: IsolateHooks = {},
): Promise<IsolatedCommit> {
  const results: CommitResult[] = [];
  const refused: RefusedVote[] = [];
  const attempt = async (part: readonly ParsedVote[]): Promise<void> => {
    try {
      results.push(await commit(part));
    } catch (error) {
      const found = isDataError(error) ? databaseErrorOf(error) : undefined;
      if (found === undefined) throw error;
      const [only] = part;
      if (part.length === 1 && only) {
        refused.push({ vote: only, error: found });
        return;
      }
      hooks.onSplit?.(part.length, found);
      const middle = Math.ceil(part.length / 2);
      await attempt(part.slice(0, middle));
      await attempt(part.slice(middle));
    }
  };
  await attempt(votes);
  return { ...mergeCommits(results), refused };
}

/** The commits ran one after another: a poll's tally with the highest version is its newest state. */
function mergeCommits(results: readonly CommitResult[]): CommitResult {
  const [single] = results;
  if (results.length === 1 && single) return single;
  const newest = new Map<string, CommittedTally>();
  for (const { tallies } of results) {
    for (const tally of tallies) {
      const seen = newest.get(tally.pollId);
      if (!seen || tally.version > seen.version) newest.set(tally.pollId, tally);
    }
  }
  return {
    decided: results.flatMap((result) => result.decided),
    replaced: results.flatMap((result) => result.replaced),
    tallies: [...newest.values()],
  };
}
