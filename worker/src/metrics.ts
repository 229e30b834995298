// The worker's Prometheus metrics. Stream gauges are read from Redis at scrape time, so they are
// right even when this replica is idle or the group is served by others (and say when they are stale).
import type { Redis } from 'ioredis';
import type { Logger } from '@votemesh/common/logger';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS } from '@votemesh/common/telemetry/names';
import { type GroupStats, readGroupStats, type StreamRef } from './stream.ts';

export type AppliedOutcome = 'counted' | 'superseded' | 'rejected';

export interface WorkerMetrics {
  readonly batchSize: Histogram;
  readonly batchApplySeconds: Histogram;
  readonly votesApplied: Counter<'outcome'>;
  readonly claimedEntries: Counter;
  readonly deletedConsumers: Counter;
  readonly transactionRetries: Counter<'sqlstate'>;
  readonly publishErrors: Counter;
  readonly ballotRaces: Counter;
  readonly settleRetries: Counter;
}

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    batchSize: new Histogram({
      name: METRICS.workerBatchSize.name,
      help: METRICS.workerBatchSize.help,
      buckets: [...METRICS.workerBatchSize.buckets],
      registers: [registry],
    }),
    // Measures the whole batch (transaction, receipts, ack, publish), which is what bounds throughput.
    batchApplySeconds: new Histogram({
      name: METRICS.workerBatchApplySeconds.name,
      help: METRICS.workerBatchApplySeconds.help,
      buckets: [...METRICS.workerBatchApplySeconds.buckets],
      registers: [registry],
    }),
    // counted | superseded | rejected (a replayed entry is counted: its receipt is COUNTED again).
    votesApplied: new Counter({
      name: METRICS.workerVotesAppliedTotal.name,
      help: METRICS.workerVotesAppliedTotal.help,
      labelNames: [...METRICS.workerVotesAppliedTotal.labelNames],
      registers: [registry],
    }),
    claimedEntries: new Counter({ name: METRICS.workerClaimedEntriesTotal.name, help: METRICS.workerClaimedEntriesTotal.help, registers: [registry] }),
    deletedConsumers: new Counter({ name: METRICS.workerDeletedConsumersTotal.name, help: METRICS.workerDeletedConsumersTotal.help, registers: [registry] }),
    transactionRetries: new Counter({
      name: METRICS.workerTransactionRetriesTotal.name,
      help: METRICS.workerTransactionRetriesTotal.help,
      labelNames: [...METRICS.workerTransactionRetriesTotal.labelNames],
      registers: [registry],
    }),
    publishErrors: new Counter({ name: METRICS.workerPublishErrorsTotal.name, help: METRICS.workerPublishErrorsTotal.help, registers: [registry] }),
    ballotRaces: new Counter({ name: METRICS.workerBallotRacesTotal.name, help: METRICS.workerBallotRacesTotal.help, registers: [registry] }),
    settleRetries: new Counter({ name: METRICS.workerSettleRetriesTotal.name, help: METRICS.workerSettleRetriesTotal.help, registers: [registry] }),
  };
}

/**
 * Registers the stream gauges; each scrape reads XLEN, XPENDING and XINFO GROUPS once, through
 * `redis`, which must fail fast rather than wait for Redis (no offline queue, a command timeout:
 * main.ts's probe connection): a scrape must answer while Redis is away. Then the gauges keep the
 * last values read, votemesh_stream_stats_up says 0 (stale) and the error counter moves.
 */
export function registerStreamGauges(registry: Registry, redis: Redis, stream: StreamRef, logger?: Pick<Logger, 'debug'>): void {
  let last: GroupStats = { length: 0, pending: 0, lag: null };
  let inFlight: Promise<void> | undefined;
  // Each of the five metrics awaits the read in its collect (prom-client collects them side by side),
  // so up and the counter describe this scrape's read, not the previous one's.
  const up = new Gauge({
    name: METRICS.streamStatsUp.name,
    help: METRICS.streamStatsUp.help,
    registers: [registry],
    collect: () => refresh(),
  });
  const errors = new Counter({
    name: METRICS.streamStatsErrorsTotal.name,
    help: METRICS.streamStatsErrorsTotal.help,
    registers: [registry],
    collect: () => refresh(),
  });
  // One read per scrape however many metrics ask; a failed read is counted once.
  function refresh(): Promise<void> {
    inFlight ??= readGroupStats(redis, stream)
      .then(
        (stats) => {
          last = stats;
          up.set(1);
        },
        (error: unknown) => {
          up.set(0);
          errors.inc();
          logger?.debug({ err: error }, 'stream gauges not read; they keep their last values');
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }
  new Gauge({
    name: METRICS.streamLength.name,
    help: METRICS.streamLength.help,
    registers: [registry],
    async collect() {
      await refresh();
      this.set(last.length);
    },
  });
  new Gauge({
    name: METRICS.streamPending.name,
    help: METRICS.streamPending.help,
    registers: [registry],
    async collect() {
      await refresh();
      this.set(last.pending);
    },
  });
  // Redis cannot tell the lag once an undelivered entry was deleted (XINFO GROUPS answers null), nor
  // before the group exists: then NaN, as for every gauge unknown at scrape time (the audit spool's
  // too). A sentinel such as -1 would be averaged, derived and graphed as a backlog; NaN compares
  // false, so `votemesh_stream_lag > 1000` stays quiet while it is unknown.
  new Gauge({
    name: METRICS.streamLag.name,
    help: METRICS.streamLag.help,
    registers: [registry],
    async collect() {
      await refresh();
      this.set(last.lag ?? Number.NaN);
    },
  });
}
