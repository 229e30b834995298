// The result subgraph's own Prometheus metrics (names from the one telemetry-names module; the
// process defaults come from createMetricsRegistry).
import { METRICS } from '@votemesh/common/telemetry/names';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface ResultMetrics {
  /** Open `pollResults` subscriptions in this process. */
  readonly subscriptions: Gauge;
  /** Results pushed to subscribers (the initial state and every coalesced update). */
  readonly pushes: Counter;
  /** Open TallyService.WatchResults streams (at most one per watched poll). */
  readonly watchStreams: Gauge;
  /** WatchResults streams that ended unexpectedly and were scheduled to reconnect. */
  readonly watchReconnects: Counter;
}

export function createResultMetrics(registry: Registry): ResultMetrics {
  const { resultSubscriptions, resultPushesTotal, resultWatchStreams } = METRICS;
  return {
    subscriptions: new Gauge({ name: resultSubscriptions.name, help: resultSubscriptions.help, registers: [registry] }),
    pushes: new Counter({ name: resultPushesTotal.name, help: resultPushesTotal.help, registers: [registry] }),
    watchStreams: new Gauge({ name: resultWatchStreams.name, help: resultWatchStreams.help, registers: [registry] }),
    watchReconnects: new Counter({ name: METRICS.resultWatchReconnectsTotal.name, help: METRICS.resultWatchReconnectsTotal.help, registers: [registry] }),
  };
}
