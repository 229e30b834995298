// Plugs the subscription service into `startGateway` (server.ts `deps.subscriptions`): maps the
// gateway's SubscriptionHost onto the service's dependencies.
import type { SubscriptionsFactory } from '../server.ts';
import { createSubscriptionService, type ExecuteOperation, type SubscriptionLimits } from './index.ts';

export interface SubscriptionsFactoryOptions {
  readonly limits?: Partial<SubscriptionLimits>;
  readonly executeOperation?: ExecuteOperation;
  /** Stateful subscription root fields replayed to late joiners (SubscriptionServiceDeps.replayFields). */
  readonly replayFields?: readonly string[];
}

export function createSubscriptionsFactory(options: SubscriptionsFactoryOptions = {}): SubscriptionsFactory {
  return (host) =>
    createSubscriptionService({
      supergraphSdl: host.supergraph.executableSdl,
      subgraphUrls: host.subgraphUrls,
      // Entity fetches of events go through the query path's data sources (pool, deadline, identity).
      dataSources: host.dataSources,
      authenticate: host.authenticate,
      getFieldAuth: (typeName, fieldName) => host.policy.getFieldAuth(typeName, fieldName),
      signIdentity: host.signIdentity,
      logger: host.logger,
      metricsRegistry: host.registry,
      // The gateway's own client identification (honours TRUST_FORWARDED_FOR like its rate limits).
      clientAddress: host.clientAddress,
      requireIdentity: host.requireIdentity,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.executeOperation ? { executeOperation: options.executeOperation } : {}),
      ...(options.replayFields ? { replayFields: options.replayFields } : {}),
    });
}
