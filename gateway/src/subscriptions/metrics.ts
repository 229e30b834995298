// Prometheus metrics of the subscription service (names and help from common/src/telemetry/names.ts).
// Gauges read the live state at scrape time, so they cannot drift from it; counters and the
// delivery histogram are updated where things happen.
import { METRICS, type MetricName } from '@votemesh/common/telemetry/names';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SubscriptionGaugeSources {
  wsConnections(): number;
  sseConnections(): number;
  subscriptions(): number;
  upstreamSubscriptions(): number;
}

export interface SubscriptionMetrics {
  readonly messages: Counter;
  readonly events: Counter;
  readonly slowConsumersDropped: Counter;
  /** Vote-to-screen: commit time (`committedAtMs` of the event) to the event written to its clients. */
  readonly tallyDeliverySeconds: Histogram;
}

export function createSubscriptionMetrics(registry: Registry, sources: SubscriptionGaugeSources): SubscriptionMetrics {
  const gauge = (metric: MetricName, read: () => number): void => {
    new Gauge({
      name: metric.name,
      help: metric.help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  const counter = (metric: MetricName): Counter => new Counter({ name: metric.name, help: metric.help, registers: [registry] });
  gauge(METRICS.gatewayWsConnections, sources.wsConnections);
  gauge(METRICS.gatewaySseConnections, sources.sseConnections);
  gauge(METRICS.gatewaySubscriptions, sources.subscriptions);
  gauge(METRICS.gatewayUpstreamSubscriptions, sources.upstreamSubscriptions);
  const delivery = METRICS.gatewayTallyDeliverySeconds;
  return {
    messages: counter(METRICS.gatewaySubscriptionMessagesTotal),
    events: counter(METRICS.gatewaySubscriptionEventsTotal),
    slowConsumersDropped: counter(METRICS.gatewaySlowConsumersDroppedTotal),
    tallyDeliverySeconds: new Histogram({ name: delivery.name, help: delivery.help, buckets: [...delivery.buckets], registers: [registry] }),
  };
}
