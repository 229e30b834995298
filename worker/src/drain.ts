// Drains a pre-filled `votes` stream as fast as the worker can apply it and reports the rate: the
// quick measurement behind worker/scripts/measure-drain.ts. It is the consumer's own pipeline
// (pipeline.ts: read ahead, commit and settle overlapped, lanes side by side) in drain mode:
// non-blocking reads, and each lane stops when the group has nothing new left for it.
import type { ApplyDeps, BatchReport } from './apply-batch.ts';
import { laneConsumerName, startPipeline } from './pipeline.ts';

export interface DrainOptions {
  /** Lanes (each its own consumer name in the group and its own Redis connection). @default 1 */
  readonly consumers?: number;
  /** @default 2000 */
  readonly batchSize?: number;
  /** @default `drain` */
  readonly consumerPrefix?: string;
}

export interface DrainReport {
  readonly entries: number;
  readonly batches: number;
  readonly counted: number;
  readonly superseded: number;
  readonly rejected: number;
  readonly seconds: number;
  /** Stream entries applied per second, wall clock, all consumers together. */
  readonly entriesPerSecond: number;
}

export async function drainStream(deps: ApplyDeps, options: DrainOptions = {}): Promise<DrainReport> {
  const totals = { entries: 0, batches: 0, counted: 0, superseded: 0, rejected: 0 };
  const add = (report: BatchReport): void => {
    totals.entries += report.entries;
    totals.batches += 1;
    totals.counted += report.counted;
    totals.superseded += report.superseded;
    totals.rejected += report.rejected;
  };
  const prefix = options.consumerPrefix ?? 'drain';
  const started = performance.now();
  const pipeline = await startPipeline(deps, {
    consumerNames: Array.from({ length: Math.max(1, options.consumers ?? 1) }, (_, lane) => laneConsumerName(prefix, lane)),
    batchSize: options.batchSize ?? 2000,
    mode: { kind: 'drain' },
    onBatch: add,
  });
  await pipeline.done;
  const seconds = (performance.now() - started) / 1000;
  return { ...totals, seconds, entriesPerSecond: totals.entries / seconds };
}
