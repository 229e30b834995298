// Live results for `Subscription.pollResults`, transport-free: subscribers get an AsyncIterator,
// whatever carries it (graphql-ws here). Per poll and process there is ONE WatchResults stream to
// the tally service, shared by every subscriber of that poll:
//   tally stream ──► coalescer (≤ 1 state per COALESCE_MS, newest always delivered) ──► mailboxes
// The stream opens with the first subscriber and closes with the last. When it fails or ends
// (worker restart) it is reopened after an exponential backoff with jitter; it asks for the
// current state first (`send_initial`), so a subscriber never misses the state committed meanwhile.
// The watch (stream, reconnect timers, coalescer) is opened in the root context: it serves every
// subscriber, so it must not run for its whole life inside the trace of the one that opened it.
// Each push is traced from the commit that caused it (the tally's traceparent, push-telemetry.ts).
import type { Logger } from '@votemesh/common/logger';
import { VotemeshError } from '@votemesh/common/errors';
import { parseId } from '@votemesh/common/graphql/ids';
import { inRootContext } from '@votemesh/common/telemetry/propagation';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { createCoalescer, type Coalescer } from './coalescer.ts';
import { createLatestMailbox, type LatestMailbox } from './latest-mailbox.ts';
import type { ResultMetrics } from './metrics.ts';
import type { PollOptionSource } from './poll-options.ts';
import { buildPollResults, type CommitInfo, type PollResults } from './results.ts';
import { pollNotFound, readPollResults } from './results-loader.ts';
import type { TallySource, TallyWatch } from './tally-client.ts';

export interface LiveResultsDeps {
  readonly tally: TallySource;
  readonly options: PollOptionSource;
  readonly metrics: ResultMetrics;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** At most one push per poll per this many ms. */
  readonly coalesceMs: number;
  readonly reconnect?: BackoffOptions;
  readonly now?: () => Date;
}

export interface LiveResults {
  /** Resolves to the subscriber's iterator once the current results are in it; rejects with
   *  BAD_USER_INPUT (not a UUID, as the vote subgraph words it), POLL_NOT_FOUND or
   *  UPSTREAM_UNAVAILABLE when there is nothing to subscribe to. */
  subscribe(pollId: string): Promise<AsyncIterableIterator<PollResults>>;
  /** Polls with a live watch (stream open or reconnecting). */
  readonly watchedPolls: number;
  /** Ends every subscription and stream. Safe to call twice. */
  close(): void;
}

type Link =
  | { readonly kind: 'connecting'; readonly stream: TallyWatch }
  | { readonly kind: 'streaming'; readonly stream: TallyWatch }
  | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'closed' };

interface PollWatch {
  readonly pollId: string;
  readonly optionIds: readonly string[];
  readonly subscribers: Set<LatestMailbox<PollResults>>;
  readonly coalescer: Coalescer<PollResults>;
  link: Link;
  failures: number;
}

export function createLiveResults(deps: LiveResultsDeps): LiveResults {
  const watches = new Map<string, PollWatch>();
  const now = deps.now ?? (() => new Date());
  const { metrics, logger } = deps;
  let closed = false;

  function openWatch(pollId: string, optionIds: readonly string[]): PollWatch {
    const watch: PollWatch = {
      pollId,
      optionIds,
      subscribers: new Set(),
      coalescer: createCoalescer<PollResults>({
        intervalMs: deps.coalesceMs,
        emit: (results) => {
          for (const mailbox of watch.subscribers) if (mailbox.deliver(results)) metrics.pushes.inc();
        },
      }),
      link: { kind: 'closed' },
      failures: 0,
    };
    watches.set(pollId, watch);
    connect(watch);
    return watch;
  }

  function connect(watch: PollWatch): void {
    const stream = deps.tally.watchResults(watch.pollId, {
      onTally(tally) {
        if (watch.link.kind === 'closed' || watch.link.kind === 'backoff') return;
        if (tally.pollId !== watch.pollId) {
          logger.warn({ pollId: watch.pollId, got: tally.pollId }, 'tally stream sent another poll; ignored');
          return;
        }
        // The first message of a (re)opened stream is the current state; later ones are commits.
        const live = watch.link.kind === 'streaming';
        if (watch.link.kind === 'connecting') {
          if (watch.failures > 0) logger.info({ pollId: watch.pollId, failures: watch.failures }, 'tally watch stream recovered');
          watch.link = { kind: 'streaming', stream };
          watch.failures = 0;
        }
        const results = buildPollResults(watch.optionIds, tally, now().toISOString());
        const commit: CommitInfo = { committedAtMs: tally.committedAtMs, ...(tally.traceparent ? { traceparent: tally.traceparent } : {}) };
        watch.coalescer.offer(live ? { ...results, commit } : results);
      },
      onEnd(error) {
        metrics.watchStreams.dec();
        if (watch.link.kind === 'closed') return;
        const delayMs = backoffDelay(watch.failures, deps.reconnect);
        watch.failures += 1;
        metrics.watchReconnects.inc();
        logger.warn({ pollId: watch.pollId, err: error, delayMs, failures: watch.failures }, 'tally watch stream ended; reconnecting');
        const timer = setTimeout(() => {
          if (watch.link.kind === 'backoff') connect(watch);
        }, delayMs);
        watch.link = { kind: 'backoff', timer };
      },
    });
    metrics.watchStreams.inc();
    watch.link = { kind: 'connecting', stream };
  }

  function closeWatch(watch: PollWatch): void {
    const { link } = watch;
    watch.link = { kind: 'closed' };
    switch (link.kind) {
      case 'connecting':
      case 'streaming':
        link.stream.cancel();
        metrics.watchStreams.dec();
        break;
      case 'backoff':
        clearTimeout(link.timer);
        break;
      case 'closed':
        break;
      default:
        link satisfies never;
    }
    watch.coalescer.dispose();
    if (watches.get(watch.pollId) === watch) watches.delete(watch.pollId);
  }

  function leave(watch: PollWatch, mailbox: LatestMailbox<PollResults>): void {
    if (!watch.subscribers.delete(mailbox)) return;
    metrics.subscriptions.dec();
    if (watch.subscribers.size === 0) closeWatch(watch);
  }

  return {
    async subscribe(requestedId) {
      if (closed) throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'The result subgraph is shutting down; subscribe again');
      // One spelling per poll: the tally service answers in lower case, so a watch keyed by an
      // upper-case request would ignore every message (and two spellings would open two streams).
      const pollId = parseId(requestedId, 'pollId');
      const optionIds = (await deps.options.loadOptionIds([pollId])).get(pollId);
      if (!optionIds) throw pollNotFound(pollId);
      if (closed) throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'The result subgraph is shutting down; subscribe again');
      const watch = watches.get(pollId) ?? inRootContext(() => openWatch(pollId, optionIds));
      const mailbox = createLatestMailbox<PollResults>(() => leave(watch, mailbox));
      watch.subscribers.add(mailbox);
      metrics.subscriptions.inc();
      // Joined before reading, so an update committed while GetResults is in flight is not lost;
      // whichever of the two is newer is what the subscriber sees first.
      try {
        const initial = await readPollResults({ options: deps.options, tally: deps.tally, now }, pollId, watch.optionIds);
        if (mailbox.deliver(initial)) metrics.pushes.inc();
      } catch (error) {
        mailbox.end();
        throw error;
      }
      return mailbox;
    },
    get watchedPolls() {
      return watches.size;
    },
    close() {
      closed = true;
      for (const watch of [...watches.values()]) {
        for (const mailbox of [...watch.subscribers]) mailbox.end();
        closeWatch(watch);
      }
    },
  };
}
