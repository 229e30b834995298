// HTTP data sources for the entity fetches of subscription events: the query path's transport
// (RemoteGraphQLDataSource), with the scope's signed identity in `x-votemesh-identity`.
import { RemoteGraphQLDataSource, type GraphQLDataSource } from '@apollo/gateway';
import { IDENTITY_HEADER } from '@votemesh/common/contracts/identity';
import type { ResolutionContext } from './event-resolver.ts';

export function createIdentityForwardingDataSource(url: string): GraphQLDataSource {
  return new RemoteGraphQLDataSource<ResolutionContext & Record<string, unknown>>({
    url,
    willSendRequest({ request, context }) {
      const token = context.identityToken;
      if (typeof token === 'string') request.http?.headers.set(IDENTITY_HEADER, token);
    },
  });
}

export function createDataSources(subgraphUrls: ReadonlyMap<string, string>): Record<string, GraphQLDataSource> {
  const sources: Record<string, GraphQLDataSource> = Object.create(null);
  for (const [name, url] of subgraphUrls) sources[name] = createIdentityForwardingDataSource(url);
  return sources;
}
