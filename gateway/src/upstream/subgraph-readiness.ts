// Dependency checks for the subgraphs: each must answer `{ __typename }` over HTTP with a GraphQL
// response. A subgraph that is down is reported in /readyz and `votemesh_dependency_up`, but does
// not make the gateway unready: every gateway replica shares that subgraph, so failing readiness
// would take the whole API out of the Service, queries to the healthy subgraphs included, and no
// gateway restart brings the subgraph back (see server.ts and docs/observability.md).
import type { ReadinessCheck } from '@votemesh/common/http-server';

export function subgraphReadinessChecks(urls: ReadonlyMap<string, string>, timeoutMs: number): ReadinessCheck[] {
  return [...urls].map(([name, url]) => ({
    name: `subgraph:${name}`,
    async check() {
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ query: '{ __typename }' }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: unknown } }).cause?.code ?? (error as Error).message;
        throw new Error(`${url} unreachable (${String(cause)})`, { cause: error });
      }
      if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
      const body = (await response.json()) as { data?: { __typename?: unknown } };
      if (body.data?.__typename !== 'Query') throw new Error(`${url} did not answer { __typename } with a GraphQL result`);
    },
  }));
}
