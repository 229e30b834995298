// The stream consumer: what one worker replica runs. `concurrency` lanes read the `tally` group of
// the `votes` stream, each as `<consumerName>#<lane>` on its own blocking Redis connection, and all
// share one Prisma client and one non-blocking connection (see pipeline.ts: read ahead, commit and
// settle overlap within a lane; lanes overlap with each other). Entries of consumers that died are
// claimed with XAUTOCLAIM and applied the same way; a lane's own pending entries (from a failed
// batch or an earlier life under the same name) are re-read before anything new. `stop()` finishes
// the batches in flight, acks what committed, then returns.
import type { ApplyDeps, ApplySettings, BatchReport } from './apply-batch.ts';
import { DEFAULT_CONSUMER_DELETE_IDLE_MS } from './config.ts';
import { laneConsumerName, startPipeline, type BatchSource } from './pipeline.ts';

export type { BatchSource } from './pipeline.ts';

export interface ConsumerSettings extends ApplySettings {
  /** The replica's name; lane i reads the group as `<consumerName>#<i>`. */
  readonly consumerName: string;
  readonly batchSize: number;
  readonly blockMs: number;
  /**
   * The lanes form at most one partial batch per this many milliseconds: a read that returns a
   * partial batch waits for the next free slot, then takes what arrived meanwhile (pipeline.ts);
   * 0 applies every read at once. @default 0
   */
  readonly batchIntervalMs?: number;
  readonly claimIdleMs: number;
  readonly claimIntervalMs: number;
  /**
   * Consumers of the group idle this long with no pending entries are deleted (lane 0 of every
   * replica checks once a minute, or every this many milliseconds if shorter). Longer than blockMs,
   * so a reader parked in XREADGROUP BLOCK is never one of them. @default 600000
   */
  readonly consumerDeleteIdleMs?: number;
  /** Lanes in this process: batches in flight at once, each with its own consumer name. @default 1 */
  readonly concurrency?: number;
  /** Rate buckets older than this are deleted now and then. @default 3600 */
  readonly rateBucketRetentionSeconds?: number;
}

export interface ConsumerDeps extends ApplyDeps {
  readonly settings: ConsumerSettings;
  /** Called after every applied batch with the lane's consumer name (tests and benchmarks observe progress with it). */
  readonly onBatch?: (report: BatchReport, source: BatchSource, consumerName: string) => void;
}

export type ConsumerState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'running'; readonly since: number; readonly batches: number; readonly lastError?: string }
  | { readonly phase: 'stopping'; readonly reason: string }
  | { readonly phase: 'stopped'; readonly batches: number };

export interface Consumer {
  readonly name: string;
  /** The consumer names the lanes read the group as. */
  readonly consumerNames: readonly string[];
  state(): ConsumerState;
  /** Finishes the batches in flight (committed work is acked), closes the reading connections. Idempotent. */
  stop(reason?: string): Promise<void>;
}

const PRUNE_EVERY_MS = 60_000;

export async function startConsumer(deps: ConsumerDeps): Promise<Consumer> {
  const { settings, logger } = deps;
  const consumerNames = Array.from({ length: Math.max(1, settings.concurrency ?? 1) }, (_, lane) => laneConsumerName(settings.consumerName, lane));
  const applyDeps: ApplyDeps = deps;
  const deleteIdleMs = settings.consumerDeleteIdleMs ?? DEFAULT_CONSUMER_DELETE_IDLE_MS;
  const pipeline = await startPipeline(applyDeps, {
    consumerNames,
    batchSize: settings.batchSize,
    mode: { kind: 'follow', blockMs: settings.blockMs, batchIntervalMs: settings.batchIntervalMs ?? 0 },
    claim: { idleMs: settings.claimIdleMs, intervalMs: settings.claimIntervalMs },
    pruneRateBuckets: { keepSeconds: settings.rateBucketRetentionSeconds ?? 3600, everyMs: PRUNE_EVERY_MS },
    deleteConsumers: { idleMs: deleteIdleMs, everyMs: Math.min(PRUNE_EVERY_MS, deleteIdleMs) },
    ...(deps.onBatch ? { onBatch: deps.onBatch } : {}),
  });
  const since = Date.now();
  let phase: 'running' | { readonly stopping: string } | 'stopped' = 'running';
  let stopping: Promise<void> | undefined;
  logger.info(
    { consumer: settings.consumerName, consumers: consumerNames, key: deps.keys.votes, group: deps.keys.tallyGroup, batchSize: settings.batchSize },
    'consumer started',
  );

  return {
    name: settings.consumerName,
    consumerNames,
    state(): ConsumerState {
      if (phase === 'stopped') return { phase: 'stopped', batches: pipeline.batches() };
      if (phase !== 'running') return { phase: 'stopping', reason: phase.stopping };
      const lastError = pipeline.lastError();
      return { phase: 'running', since, batches: pipeline.batches(), ...(lastError === undefined ? {} : { lastError }) };
    },
    stop(reason = 'stop requested') {
      stopping ??= (async () => {
        phase = { stopping: reason };
        pipeline.stop();
        // The lanes end after the batches in flight (and the current blocking reads, ≤ blockMs).
        await pipeline.done;
        phase = 'stopped';
        logger.info({ consumer: settings.consumerName, batches: pipeline.batches(), reason }, 'consumer stopped');
      })();
      return stopping;
    },
  };
}
