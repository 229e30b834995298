// The audit process's own Prometheus metrics, registered on the process registry.
// The three contract metrics take their names from common/src/telemetry/names.ts (METRICS); the
// others are audit-local diagnostics (also listed in METRICS).
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
      help: 'Audit events ignored because their event_id was already recorded (client resends).',
      registers: [registry],
    }),
    rejected: new Counter({
      name: METRICS.auditIngestRejectedTotal.name,
      help: 'AuditIngest messages rejected at the edge, by offending field.',
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
      help: 'Events per append transaction.',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    ingestStreams: new Gauge({
      name: METRICS.auditIngestStreams.name,
      help: METRICS.auditIngestStreams.help,
      registers: [registry],
    }),
    feedSubscribers: new Gauge({
      name: METRICS.auditFeedSubscribers.name,
      help: 'auditEvents subscriptions currently served by this process.',
      registers: [registry],
    }),
  };
}
