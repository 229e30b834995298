// The stream consumer: one loop per replica reading the `tally` group of the `votes` stream and
// applying each batch with applyBatch. Pending entries of consumers that died are claimed with
// XAUTOCLAIM and applied the same way; this replica's own pending entries (from a failed batch)
// are re-read before anything new. `stop()` finishes the batch in flight, acks it, then returns.
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { commitBatch, settleBatch, type ApplyDeps, type ApplySettings, type BatchReport } from './apply-batch.ts';
import { pruneRateBuckets } from './tally-sql.ts';
import { autoClaim, ensureGroup, readGroup, type StreamEntry, type StreamRef } from './stream.ts';

export interface ConsumerSettings extends ApplySettings {
  readonly consumerName: string;
  readonly batchSize: number;
  readonly blockMs: number;
  readonly claimIdleMs: number;
  readonly claimIntervalMs: number;
  /** Rate buckets older than this are deleted now and then. @default 3600 */
  readonly rateBucketRetentionSeconds?: number;
}

export interface ConsumerDeps extends ApplyDeps {
  readonly settings: ConsumerSettings;
  /** Called after every applied batch (tests and benchmarks observe progress with it). */
  readonly onBatch?: (report: BatchReport, source: BatchSource) => void;
}

export type BatchSource = 'new' | 'own-pending' | 'claimed';

export type ConsumerState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'running'; readonly since: number; readonly batches: number; readonly lastError?: string }
  | { readonly phase: 'stopping'; readonly reason: string }
  | { readonly phase: 'stopped'; readonly batches: number };

export interface Consumer {
  readonly name: string;
  state(): ConsumerState;
  /** Finishes the batch in flight (committed work is acked), closes the reading connection. Idempotent. */
  stop(reason?: string): Promise<void>;
}

const MAX_BACKOFF_MS = 5000;
const PRUNE_EVERY_MS = 60_000;

export async function startConsumer(deps: ConsumerDeps): Promise<Consumer> {
  const { settings, logger } = deps;
  const stream: StreamRef = { key: deps.keys.votes, group: deps.keys.tallyGroup };
  await ensureGroup(deps.redis, stream);
  // XREADGROUP BLOCK parks a connection; it must never be the one receipts and acks go through.
  const reader: Redis = deps.redis.duplicate();
  const abort = new AbortController();
  let state: ConsumerState = { phase: 'idle' };
  let batches = 0;
  let stopping: Promise<void> | undefined;

  const isStopping = (): boolean => abort.signal.aborted;

  // One settle (receipts, ack, publish) may run while the next batch reads and commits; settles
  // start in batch order, so Redis sees them in batch order.
  let settling: Promise<void> = Promise.resolve();
  let ownPending = true; // entries left pending by an earlier life of this consumer name

  async function apply(entries: readonly StreamEntry[], source: BatchSource): Promise<void> {
    const committed = await commitBatch(deps, entries);
    await settling;
    settling = settleBatch(deps, committed).then(
      (report) => {
        batches += 1;
        if (state.phase === 'running') state = { phase: 'running', since: state.since, batches };
        deps.onBatch?.(report, source);
      },
      (error: unknown) => {
        // Committed but not acked: the entries stay pending under our name and replay as no-ops.
        ownPending = true;
        logger.error({ err: error, entries: entries.length }, 'settling a committed batch failed; it will be replayed');
      },
    );
  }

  async function claimDead(cursor: string): Promise<string> {
    const claimed = await autoClaim(deps.redis, stream, settings.consumerName, settings.claimIdleMs, cursor, settings.batchSize);
    if (claimed.entries.length > 0) {
      deps.metrics?.claimedEntries.inc(claimed.entries.length);
      logger.info({ claimed: claimed.entries.length, deleted: claimed.deletedIds.length }, 'claimed pending entries from idle consumers');
      await apply(claimed.entries, 'claimed');
    }
    return claimed.cursor;
  }

  async function run(): Promise<void> {
    let claimCursor = '0-0';
    let nextClaimAt = 0;
    let nextPruneAt = Date.now() + PRUNE_EVERY_MS;
    let failures = 0;
    while (!isStopping()) {
      try {
        const now = Date.now();
        if (ownPending) {
          await settling; // its entries are still pending until it acks
          const entries = await readGroup(deps.redis, stream, { consumer: settings.consumerName, count: settings.batchSize, from: '0' });
          if (entries.length === 0) ownPending = false;
          else await apply(entries, 'own-pending');
        } else if (now >= nextClaimAt) {
          await settling;
          claimCursor = await claimDead(claimCursor);
          // Keep scanning while the pending list has more; otherwise wait for the next tick.
          if (claimCursor === '0-0') nextClaimAt = now + settings.claimIntervalMs;
        } else if (now >= nextPruneAt) {
          nextPruneAt = now + PRUNE_EVERY_MS;
          await pruneRateBuckets(deps.prisma, settings.rateBucketRetentionSeconds ?? 3600);
        } else {
          const blockMs = Math.max(1, Math.min(settings.blockMs, nextClaimAt - now));
          const entries = await readGroup(reader, stream, { consumer: settings.consumerName, count: settings.batchSize, blockMs, from: '>' });
          if (entries.length > 0) await apply(entries, 'new');
        }
        if (failures > 0 && state.phase === 'running') state = { phase: 'running', since: state.since, batches };
        failures = 0;
      } catch (error) {
        failures += 1;
        ownPending = true; // the failed batch stays pending under our name: retry it first
        const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(failures, 6));
        const message = error instanceof Error ? error.message : String(error);
        if (state.phase === 'running') state = { ...state, lastError: message };
        logger.error({ err: error, failures, backoffMs: backoff }, 'consumer iteration failed; its entries stay pending and are retried');
        await delay(backoff, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
    await settling;
  }

  state = { phase: 'running', since: Date.now(), batches: 0 };
  logger.info({ consumer: settings.consumerName, stream: stream.key, group: stream.group, batchSize: settings.batchSize }, 'consumer started');
  const loop = run();

  return {
    name: settings.consumerName,
    state: () => state,
    stop(reason = 'stop requested') {
      stopping ??= (async () => {
        switch (state.phase) {
          case 'idle':
          case 'running':
            state = { phase: 'stopping', reason };
            break;
          case 'stopping':
          case 'stopped':
            return;
        }
        abort.abort();
        // The loop ends after the batch in flight (and the current blocking read, ≤ blockMs).
        await loop;
        reader.disconnect();
        state = { phase: 'stopped', batches };
        logger.info({ consumer: settings.consumerName, batches, reason }, 'consumer stopped');
      })();
      return stopping;
    },
  };
}
