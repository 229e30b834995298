// The audit process's own Prometheus metrics, registered on the process registry.
// Names, help and buckets from common/src/telemetry/names.ts (METRICS), like every process's.
import { METRICS } from '@votemesh/common/telemetry/names';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface AuditMetrics {
  readonly appended: Counter<'action'>;
  readonly duplicates: Counter;
  readonly rejected: Counter<'field'>;
  readonly appendBatchSeconds: Histogram;
  readonly appendBatchSize: Histogram;
  readonly ingestStreams: Gauge;
  readonly feedSubscribers: Gauge;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  return {
    appended: new Counter({
      name: METRICS.auditEventsAppendedTotal.name,
      help: METRICS.auditEventsAppendedTotal.help,
      labelNames: ['action'],
      registers: [registry],
    }),
    duplicates: new Counter({
      name: METRICS.auditEventsDuplicateTotal.name,
      help: METRICS.auditEventsDuplicateTotal.help,
      registers: [registry],
    }),
    rejected: new Counter({
      name: METRICS.auditIngestRejectedTotal.name,
      help: METRICS.auditIngestRejectedTotal.help,
      labelNames: ['field'],
      registers: [registry],
    }),
    appendBatchSeconds: new Histogram({
      name: METRICS.auditAppendBatchSeconds.name,
      help: METRICS.auditAppendBatchSeconds.help,
      buckets: [...METRICS.auditAppendBatchSeconds.buckets],
      registers: [registry],
    }),
    appendBatchSize: new Histogram({
      name: METRICS.auditAppendBatchSize.name,
      help: METRICS.auditAppendBatchSize.help,
      buckets: [...METRICS.auditAppendBatchSize.buckets],
      registers: [registry],
    }),
    ingestStreams: new Gauge({
      name: METRICS.auditIngestStreams.name,
      help: METRICS.auditIngestStreams.help,
      registers: [registry],
    }),
    feedSubscribers: new Gauge({
      name: METRICS.auditFeedSubscribers.name,
      help: METRICS.auditFeedSubscribers.help,
      registers: [registry],
    }),
  };
}
