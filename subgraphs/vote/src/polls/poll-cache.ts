// castVote's view of polls: an in-memory cache with a short TTL (POLL_CACHE_TTL_MS), dropped early
// for a poll whenever a poll-status message (from any replica) says it changed, and cleared whole
// after a bus gap (server.ts wires both; docs/contracts/vote-stream.md lists the windows that
// remain). Concurrent misses for one poll share a single PostgreSQL read, so a burst of votes on a
// fresh poll costs one query. An entry dropped while its read is in flight is not put back: the next
// castVote reads again, so a read that raced the change cannot outlive the message.
import type { PollRecord, PollStore } from './poll-store.ts';

export interface PollCache {
  /** The poll, or null if it does not exist. */
  get(id: string): Promise<PollRecord | null>;
  invalidate(id: string): void;
  clear(): void;
}

export interface PollCacheOptions {
  readonly store: Pick<PollStore, 'findByIds'>;
  readonly ttlMs: number;
  readonly onLookup?: (result: 'hit' | 'miss') => void;
  /** @default Date.now */
  readonly now?: () => number;
  /** Expired entries are pruned when the cache grows past this. @default 10_000 */
  readonly pruneAbove?: number;
}

interface Entry {
  readonly expiresAt: number;
  readonly value: Promise<PollRecord | null>;
}

export function createPollCache(options: PollCacheOptions): PollCache {
  const now = options.now ?? Date.now;
  const pruneAbove = options.pruneAbove ?? 10_000;
  const entries = new Map<string, Entry>();

  function prune(at: number): void {
    for (const [id, entry] of entries) if (entry.expiresAt <= at) entries.delete(id);
  }

  return {
    get(id) {
      const at = now();
      const cached = entries.get(id);
      if (cached && cached.expiresAt > at) {
        options.onLookup?.('hit');
        return cached.value;
      }
      options.onLookup?.('miss');
      const value = options.store.findByIds([id]).then((polls) => polls[0] ?? null);
      const entry: Entry = { expiresAt: at + options.ttlMs, value };
      if (options.ttlMs > 0) {
        if (entries.size >= pruneAbove) prune(at);
        entries.set(id, entry);
        // A failed read must not be served from the cache.
        value.catch(() => {
          if (entries.get(id) === entry) entries.delete(id);
        });
      }
      return value;
    },
    invalidate(id) {
      entries.delete(id);
    },
    clear() {
      entries.clear();
    },
  };
}
