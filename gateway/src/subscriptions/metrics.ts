// Prometheus metrics of the subscription service. Gauges read the live state at scrape time, so
// they cannot drift from it; counters are incremented where things happen.
import { Counter, Gauge, type Registry } from 'prom-client';

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
}

export function createSubscriptionMetrics(registry: Registry, sources: SubscriptionGaugeSources): SubscriptionMetrics {
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  gauge('votemesh_gateway_ws_connections', 'Open graphql-ws (graphql-transport-ws) connections.', sources.wsConnections);
  gauge('votemesh_gateway_sse_connections', 'Open SSE and multipart subscription streams.', sources.sseConnections);
  gauge('votemesh_gateway_subscriptions', 'Active client subscriptions over all transports.', sources.subscriptions);
  gauge('votemesh_gateway_upstream_subscriptions', 'Subscriptions open on subgraphs, after deduplication.', sources.upstreamSubscriptions);
  return {
    messages: new Counter({ name: 'votemesh_gateway_subscription_messages_total', help: 'Subscription results written to clients.', registers: [registry] }),
    events: new Counter({ name: 'votemesh_gateway_subscription_events_total', help: 'Upstream subscription events resolved (once per event, whatever the fan-out).', registers: [registry] }),
    slowConsumersDropped: new Counter({ name: 'votemesh_gateway_slow_consumers_dropped_total', help: 'Clients dropped because their unsent bytes exceeded the limit.', registers: [registry] }),
  };
}
