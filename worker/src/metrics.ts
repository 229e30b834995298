// The worker's Prometheus metrics. Stream gauges are read from Redis at scrape time, so they are
// right even when this replica is idle or the group is served by others.
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS } from '@votemesh/common/telemetry/names';
import { readGroupStats, type StreamRef } from './stream.ts';

export type AppliedOutcome = 'counted' | 'superseded' | 'rejected';

export interface WorkerMetrics {
  readonly batchSize: Histogram;
  readonly batchApplySeconds: Histogram;
  readonly votesApplied: Counter<'outcome'>;
  readonly claimedEntries: Counter;
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
      help: 'Time to apply one batch: the PostgreSQL transaction plus receipts, ack and publish.',
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

/** Registers the stream gauges; each scrape reads XLEN and XINFO GROUPS once. */
export function registerStreamGauges(registry: Registry, redis: Redis, stream: StreamRef): void {
  let inFlight: Promise<Awaited<ReturnType<typeof readGroupStats>>> | undefined;
  const stats = () => {
    inFlight ??= readGroupStats(redis, stream).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  new Gauge({
    name: METRICS.streamLength.name,
    help: METRICS.streamLength.help,
    registers: [registry],
    async collect() {
      this.set((await stats()).length);
    },
  });
  new Gauge({
    name: METRICS.streamPending.name,
    help: METRICS.streamPending.help,
    registers: [registry],
    async collect() {
      this.set((await stats()).pending);
    },
  });
  new Gauge({
    name: METRICS.streamLag.name,
    help: `${METRICS.streamLag.help} -1 when Redis cannot tell.`,
    registers: [registry],
    async collect() {
      this.set((await stats()).lag ?? -1);
    },
  });
}
