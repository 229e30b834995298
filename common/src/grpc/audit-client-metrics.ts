// The audit client's Prometheus metrics (names in telemetry/names.ts). Optional: without a registry
// the client keeps only its `stats()` counters.
import { Counter, Gauge, type Registry } from 'prom-client';
import { raceTimeout } from '../race-timeout.ts';
import { METRICS } from '../telemetry/names.ts';

/** How long a scrape waits for the spool's size (ZCARD) before it leaves the gauge out. */
export const SPOOL_SIZE_TIMEOUT_MS = 1000;

export type AuditDropReason = 'buffer_full' | 'closed' | 'invalid_id' | 'unencodable' | 'refused';
export type AuditResendCause = 'call_failed' | 'spool';

export interface AuditClientMetrics {
  dropped(reason: AuditDropReason): void;
  resent(cause: AuditResendCause, count: number): void;
  overflowed(): void;
  spoolError(): void;
}

export function createAuditClientMetrics(
  registry: Registry | undefined,
  read: {
    readonly buffered: () => number;
    readonly spooled: (() => Promise<number>) | undefined;
    readonly unspooled: (() => number) | undefined;
  },
): AuditClientMetrics {
  if (!registry) return { dropped() {}, resent() {}, overflowed() {}, spoolError() {} };
  const counter = (metric: { name: string; help: string; labelNames?: readonly string[] }) =>
    new Counter({ name: metric.name, help: metric.help, labelNames: metric.labelNames ?? [], registers: [registry] });
  const dropped = counter(METRICS.auditClientDroppedTotal);
  const resent = counter(METRICS.auditClientResentTotal);
  const overflowed = counter(METRICS.auditClientOverflowedTotal);
  const spoolErrors = counter(METRICS.auditClientSpoolErrorsTotal);
  new Gauge({
    name: METRICS.auditClientBuffered.name,
    help: METRICS.auditClientBuffered.help,
    registers: [registry],
    collect() {
      this.set(read.buffered());
    },
  });
  const unspooled = read.unspooled;
  if (unspooled) {
    new Gauge({
      name: METRICS.auditClientUnspooled.name,
      help: METRICS.auditClientUnspooled.help,
      registers: [registry],
      collect() {
        this.set(unspooled());
      },
    });
  }
  const spooled = read.spooled;
  if (spooled) {
    new Gauge({
      name: METRICS.auditClientSpooled.name,
      help: METRICS.auditClientSpooled.help,
      registers: [registry],
      // Read from Redis at scrape time: every replica of a process kind reports the same value. The
      // read is bounded (a scrape must answer, and an unknown size is NaN: not a stale value, and not
      // 0, which is what reset() reports for a gauge without labels and would read as "empty");
      // where the spool's connection queues commands while Redis is away (the worker's waits out a
      // restart), the read goes over a fail-fast connection instead (AuditClientOptions.spoolSize).
      async collect() {
        try {
          const size = await raceTimeout(spooled(), SPOOL_SIZE_TIMEOUT_MS);
          this.set(size.kind === 'settled' ? size.value : Number.NaN);
        } catch {
          this.set(Number.NaN);
        }
      },
    });
  }
  return {
    dropped: (reason) => dropped.inc({ reason }),
    resent: (cause, count) => resent.inc({ cause }, count),
    overflowed: () => overflowed.inc(),
    spoolError: () => spoolErrors.inc(),
  };
}
