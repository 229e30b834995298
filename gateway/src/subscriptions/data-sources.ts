// Data sources for the entity fetches of subscription events when the service runs without the
// gateway's (tests, harnesses): the query path's own transport (upstream/subgraph-data-source.ts:
// undici pool, deadline, stale-connection retry) with the identity forwarding hook, which forwards
// the `identityToken` the hub signed for the event's scope. Behind startGateway the service gets
// the gateway's data sources instead (transport.ts), so queries and events share one pool.
import { createIdentityForwarding } from '../auth/forward-identity.ts';
import { createSubgraphDataSources, type SubgraphDataSources } from '../upstream/subgraph-data-source.ts';

export function createDataSources(subgraphUrls: ReadonlyMap<string, string>): SubgraphDataSources {
  return createSubgraphDataSources({ urls: subgraphUrls, headersFor: createIdentityForwarding() });
}
