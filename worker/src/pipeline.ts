// The batch pipeline behind both the production consumer (consumer.ts) and drainStream (drain.ts):
// N lanes in one process, each reading the `tally` group under a consumer name of its own on a
// Redis connection of its own (XREADGROUP BLOCK parks a connection; acks and receipts go through
// the shared non-blocking one). Within a lane, three batches are in motion at once:
//
//   batch N+1: XREADGROUP (read ahead)  ─┐
//   batch N:   parse + PostgreSQL commit ├─ at the same time
//   batch N-1: receipts, XACK/XDEL, tally messages (settle) ─┘
//
// and the lanes run side by side, so PostgreSQL has up to N batches in flight. Settles of one lane
// start in batch order; across lanes there is no order (tally messages carry versions, receipt
// statuses only move forward; see receipts.ts), exactly as between replicas.
//
// Recovery (follow mode): a lane first re-reads the entries left pending under its own name (an
// earlier life, a failed batch), lane 0 claims the entries of dead consumers with XAUTOCLAIM every
// claimIntervalMs, deletes consumers that are gone (below) and prunes old rate buckets. A read
// ahead is only started when none of that is due, so a re-read of the lane's own pending entries
// never races a read of new ones. A failed iteration backs off and retries; its entries (and any
// read ahead) stay pending and are re-read.
//
// A batch that committed but failed to settle (Redis unreachable) is settled again, with backoff,
// until it succeeds or the pipeline stops: the committed plan still knows every receipt its votes
// replaced, which a replay can only recover for the last change of mind of each ballot (the
// ballot row remembers one). The next batch of the lane does not start settling meanwhile, so
// settles stay in batch order. Only a settle still failing once the pipeline stops gives up; its
// entries stay pending and are replayed (own-pending re-read, or XAUTOCLAIM by another replica).
//
// Consumers that are gone: every process start reads the group under new names (CONSUMER_NAME
// defaults to <hostname>-<pid>: a new pod, a new process), and Redis keeps a consumer until it is
// deleted, so without cleanup XINFO CONSUMERS grows with every rollout and restart. Lane 0 of every
// replica deletes, now and then, the consumers idle longer than deleteConsumers.idleMs that own no
// pending entries (stream.ts deleteIdleConsumers: check and delete in one script). A dead
// consumer's pending entries are first taken over by XAUTOCLAIM (claimIdleMs), which leaves it with
// none; any replica may then delete it, and two replicas racing to do so delete it once.
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { watchRedisErrors } from '@votemesh/common/bus/redis-errors';
import { commitBatch, settleBatch, type ApplyDeps, type BatchReport, type CommittedBatch } from './apply-batch.ts';
import { pruneRateBuckets } from './tally-sql.ts';
import { autoClaim, deleteIdleConsumers, ensureGroup, readGroup, type StreamEntry, type StreamRef } from './stream.ts';

export type BatchSource = 'new' | 'own-pending' | 'claimed';

export interface PipelineOptions {
  /** One lane per name: the consumer names this process reads the group as. */
  readonly consumerNames: readonly string[];
  readonly batchSize: number;
  /**
   * `follow`: block up to blockMs on each read and run until stopped, recovering from failures.
   * `drain`: non-blocking reads; a lane ends when the group has nothing new for it, and the first
   * failure ends the pipeline with that error.
   */
  readonly mode: { readonly kind: 'follow'; readonly blockMs: number; readonly batchIntervalMs?: number } | { readonly kind: 'drain' };
  /** XAUTOCLAIM by lane 0 (follow mode only). */
  readonly claim?: { readonly idleMs: number; readonly intervalMs: number };
  /** Delete consumers idle at least idleMs with no pending entries, every everyMs (lane 0, follow mode only). */
  readonly deleteConsumers?: { readonly idleMs: number; readonly everyMs: number };
  /** Delete rate buckets older than this now and then (lane 0, follow mode only). */
  readonly pruneRateBuckets?: { readonly keepSeconds: number; readonly everyMs: number };
  /** After every settled batch. */
  readonly onBatch?: (report: BatchReport, source: BatchSource, consumerName: string) => void;
}

export interface Pipeline {
  /** Settles when every lane has ended: after `stop()`, or (drain mode) when the stream is drained. */
  readonly done: Promise<void>;
  /** Batches settled so far, all lanes together. */
  batches(): number;
  /** The last error of a lane that has not had a good iteration since, if any. */
  lastError(): string | undefined;
  /** Lanes finish the batches they hold (read ahead included), settle them, then end. */
  stop(): void;
}

const MAX_BACKOFF_MS = 5000;

/** 200 ms, 400 ms, … up to MAX_BACKOFF_MS: the wait after the `failures`-th failure in a row. */
function backoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(failures, 6));
}

/** The group consumer name of lane `lane` of a replica (or drain) called `consumerName`. */
export function laneConsumerName(consumerName: string, lane: number): string {
  return `${consumerName}#${lane}`;
}

export async function startPipeline(deps: ApplyDeps, options: PipelineOptions): Promise<Pipeline> {
  const stream: StreamRef = { key: deps.keys.votes, group: deps.keys.tallyGroup };
  await ensureGroup(deps.redis, stream);
  const abort = new AbortController();
  const { logger } = deps;
  const follow = options.mode.kind === 'follow';
  const blockMs = options.mode.kind === 'follow' ? options.mode.blockMs : undefined;
  const laneErrors: (string | undefined)[] = options.consumerNames.map(() => undefined);
  let batches = 0;
  // Entries some lane has read and not settled yet: lane 0 must not claim them from its siblings
  // (with a short claim idle time it could), which would apply them twice for nothing.
  const inFlight = new Set<string>();
  // A batch of five entries costs PostgreSQL and this process nearly what a full one costs (one
  // statement and commit, two Redis pipelines, a tally message per poll), so at moderate load the
  // cost per vote is set by how often batches start. The lanes share one slot clock: a read that
  // returns a partial batch takes the next free slot (now, or batchIntervalMs after the previous
  // partial batch's slot), waits for it and then takes what arrived meanwhile, so the process forms
  // at most one partial batch per interval however many lanes it runs (per lane, two lanes would
  // double the batches at the same latency). A full batch never waits nor takes a slot, the first
  // partial one after a quiet spell forms at once, and under a backlog the wait overlaps the
  // previous batch's commit. An entry waits one interval, plus one for each other lane holding an
  // earlier slot (at most WORKER_CONCURRENCY in all). Stopping cuts the wait short; what was read is
  // applied as usual.
  const batchIntervalMs = options.mode.kind === 'follow' ? (options.mode.batchIntervalMs ?? 0) : 0;
  let nextPartialBatchAt = Number.NEGATIVE_INFINITY;

  async function runLane(index: number, name: string): Promise<void> {
    const reader: Redis = deps.redis.duplicate();
    watchRedisErrors(reader, logger, `reader ${name}`);
    let settling: Promise<void> = Promise.resolve();
    let ownPending = true;
    let ahead: Promise<StreamEntry[]> | undefined;
    let failures = 0;
    const claims = index === 0 && follow ? options.claim : undefined;
    const prune = index === 0 && follow ? options.pruneRateBuckets : undefined;
    const reap = index === 0 && follow ? options.deleteConsumers : undefined;
    let nextReapAt = reap ? Date.now() + reap.everyMs : Number.POSITIVE_INFINITY;
    let nextClaimAt = 0;
    let claimCursor = '0-0';
    let nextPruneAt = prune ? Date.now() + prune.everyMs : Number.POSITIVE_INFINITY;

    const readNew = async (wait: number | undefined): Promise<StreamEntry[]> => {
      let entries = await readGroup(reader, stream, { consumer: name, count: options.batchSize, from: '>', ...(wait === undefined ? {} : { blockMs: wait }) });
      if (entries.length === 0 || entries.length === options.batchSize || batchIntervalMs === 0) return entries;
      const now = performance.now();
      const formAt = Math.max(now, nextPartialBatchAt);
      nextPartialBatchAt = formAt + batchIntervalMs;
      if (formAt - now >= 1) {
        await delay(formAt - now, undefined, { signal: abort.signal }).catch(() => undefined);
        const more = await readGroup(reader, stream, { consumer: name, count: options.batchSize - entries.length, from: '>' });
        if (more.length > 0) entries = entries.concat(more);
      }
      return entries;
    };
    const maintenanceDue = (now: number): boolean => ownPending || (claims !== undefined && now >= nextClaimAt) || now >= nextPruneAt || now >= nextReapAt;

    async function apply(entries: readonly StreamEntry[], source: BatchSource): Promise<void> {
      for (const entry of entries) inFlight.add(entry.id);
      const release = (): void => {
        for (const entry of entries) inFlight.delete(entry.id);
      };
      let committed;
      try {
        committed = await commitBatch(deps, entries);
      } catch (error) {
        release();
        throw error;
      }
      await settling;
      settling = settleRetrying(committed).then(
        (report) => {
          release();
          batches += 1;
          options.onBatch?.(report, source, name);
        },
        (error: unknown) => {
          release();
          // Committed but not acked: the entries stay pending under this name and replay as no-ops.
          ownPending = true;
          logger.error({ err: error, consumer: name, entries: entries.length }, 'settling a committed batch failed at shutdown; it will be replayed');
        },
      );
    }

    /** settleBatch again after each failure (see the top of this file); throws once stopping. */
    async function settleRetrying(committed: CommittedBatch): Promise<BatchReport> {
      let lastError: string | undefined;
      for (let failures = 0; ; ) {
        try {
          const report = await settleBatch(deps, committed);
          if (failures > 0) {
            // Unless an iteration failed meanwhile: that error is newer and still stands.
            if (laneErrors[index] === lastError) laneErrors[index] = undefined;
            logger.info({ consumer: name, entries: committed.entries, failures }, 'settled a committed batch after retrying');
          }
          return report;
        } catch (error) {
          if (abort.signal.aborted) throw error;
          failures += 1;
          const backoff = backoffMs(failures);
          deps.metrics?.settleRetries.inc();
          lastError = `settling a committed batch: ${error instanceof Error ? error.message : String(error)}`;
          laneErrors[index] = lastError;
          logger.error(
            { err: error, consumer: name, entries: committed.entries, failures, backoffMs: backoff },
            'settling a committed batch failed; retrying it',
          );
          // Stopping cuts the wait short: one last attempt, then the entries are left to a replay.
          await delay(backoff, undefined, { signal: abort.signal }).catch(() => undefined);
        }
      }
    }

    async function claimDead(idleMs: number): Promise<void> {
      const claimed = await autoClaim(deps.redis, stream, name, idleMs, claimCursor, options.batchSize);
      claimCursor = claimed.cursor;
      // A sibling lane's unsettled entries look idle to XAUTOCLAIM too; that lane acks them.
      const entries = claimed.entries.filter((entry) => !inFlight.has(entry.id));
      if (entries.length > 0) {
        deps.metrics?.claimedEntries.inc(entries.length);
        logger.info({ consumer: name, claimed: entries.length, deleted: claimed.deletedIds.length }, 'claimed pending entries from idle consumers');
        await apply(entries, 'claimed');
      }
    }

    try {
      // In drain mode a lane ends at its first empty read; a read ahead always gets applied.
      for (;;) {
        if (abort.signal.aborted && ahead === undefined) break;
        try {
          const now = Date.now();
          let entries: StreamEntry[];
          let source: BatchSource = 'new';
          if (ahead !== undefined) {
            const pending = ahead;
            ahead = undefined;
            entries = await pending;
          } else if (ownPending) {
            await settling; // a batch still settling is pending until it acks
            entries = await readGroup(reader, stream, { consumer: name, count: options.batchSize, from: '0' });
            source = 'own-pending';
            if (entries.length === 0) {
              ownPending = false;
              continue;
            }
          } else if (claims !== undefined && now >= nextClaimAt) {
            await settling;
            await claimDead(claims.idleMs);
            // Keep scanning while the pending list has more; otherwise wait for the next tick.
            if (claimCursor === '0-0') nextClaimAt = now + claims.intervalMs;
            laneErrors[index] = undefined;
            failures = 0;
            continue;
          } else if (reap !== undefined && now >= nextReapAt) {
            nextReapAt = now + reap.everyMs;
            const deleted = await deleteIdleConsumers(deps.redis, stream, reap.idleMs, options.consumerNames);
            if (deleted.length > 0) {
              deps.metrics?.deletedConsumers.inc(deleted.length);
              logger.info({ consumer: name, deleted, idleMs: reap.idleMs }, 'deleted idle consumers with no pending entries from the group');
            }
            continue;
          } else if (prune !== undefined && now >= nextPruneAt) {
            nextPruneAt = now + prune.everyMs;
            await pruneRateBuckets(deps.prisma, prune.keepSeconds);
            continue;
          } else {
            const wait = blockMs === undefined ? undefined : Math.max(1, Math.min(blockMs, claims ? nextClaimAt - now : blockMs));
            entries = await readNew(wait);
          }
          if (entries.length === 0) {
            if (!follow) break;
            continue;
          }
          if (source === 'new' && !abort.signal.aborted && !maintenanceDue(Date.now())) {
            ahead = readNew(blockMs);
            // If this batch fails, the read ahead is awaited in the catch below; never unhandled.
            ahead.catch(() => undefined);
          }
          await apply(entries, source);
          laneErrors[index] = undefined;
          failures = 0;
        } catch (error) {
          // The read ahead's entries are pending under this name: the own-pending re-read gets them.
          if (ahead !== undefined) await ahead.catch(() => undefined);
          ahead = undefined;
          ownPending = true;
          if (!follow) throw error;
          failures += 1;
          const backoff = backoffMs(failures);
          laneErrors[index] = error instanceof Error ? error.message : String(error);
          logger.error({ err: error, consumer: name, failures, backoffMs: backoff }, 'consumer iteration failed; its entries stay pending and are retried');
          await delay(backoff, undefined, { signal: abort.signal }).catch(() => undefined);
        }
      }
      await settling;
    } finally {
      reader.disconnect();
    }
  }

  const lanes = options.consumerNames.map((name, index) =>
    runLane(index, name).catch((error: unknown) => {
      abort.abort(); // drain mode: the others finish what they hold and end too
      throw error;
    }),
  );
  const done = Promise.allSettled(lanes).then((results) => {
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  });
  return {
    done,
    batches: () => batches,
    lastError: () => laneErrors.find((message) => message !== undefined),
    stop: () => abort.abort(),
  };
}
