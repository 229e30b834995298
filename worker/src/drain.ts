// Drains a pre-filled `votes` stream as fast as the worker can apply it and reports the rate: the
// entry point for bench/ingest-worker.ts. Uses the same readGroup + commit/settle path as the
// consumer (commitBatch + settleBatch, overlapped), with non-blocking reads, and stops when the group has nothing new left.
import { commitBatch, settleBatch, type ApplyDeps, type BatchReport } from './apply-batch.ts';
import { ensureGroup, readGroup, type StreamEntry, type StreamRef } from './stream.ts';

export interface DrainOptions {
  /** Concurrent consumers (each its own consumer name in the group). @default 1 */
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
  const stream: StreamRef = { key: deps.keys.votes, group: deps.keys.tallyGroup };
  await ensureGroup(deps.redis, stream);
  const batchSize = options.batchSize ?? 2000;
  const totals = { entries: 0, batches: 0, counted: 0, superseded: 0, rejected: 0 };
  const started = performance.now();

  const add = (report: BatchReport): void => {
    totals.entries += report.entries;
    totals.batches += 1;
    totals.counted += report.counted;
    totals.superseded += report.superseded;
    totals.rejected += report.rejected;
  };

  // The consumer's overlap (batch N settles in Redis while N+1 commits), and one more: batch N+1 is
  // read while N commits, so PostgreSQL, Redis and this process work at the same time.
  async function drainAs(consumer: string): Promise<void> {
    let settling: Promise<void> = Promise.resolve();
    const read = (): Promise<StreamEntry[]> => readGroup(deps.redis, stream, { consumer, count: batchSize, from: '>' });
    let next = read();
    for (;;) {
      const entries = await next;
      if (entries.length === 0) break;
      next = read();
      // A failed commit ends the drain; the read ahead of it must not become an unhandled rejection.
      next.catch(() => undefined);
      const committed = await commitBatch(deps, entries);
      await settling;
      settling = settleBatch(deps, committed).then(add);
    }
    await settling;
  }

  const prefix = options.consumerPrefix ?? 'drain';
  await Promise.all(Array.from({ length: options.consumers ?? 1 }, (_, index) => drainAs(`${prefix}-${index}`)));
  const seconds = (performance.now() - started) / 1000;
  return { ...totals, seconds, entriesPerSecond: totals.entries / seconds };
}
