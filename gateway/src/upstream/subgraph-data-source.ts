// The gateway's GraphQLDataSource: how one fetch of a query plan reaches its subgraph, for client
// operations AND the entity fetches of subscription events (one implementation, one pool, one
// deadline). It replaces Apollo's RemoteGraphQLDataSource, which builds a node-fetch Request (and
// parses the URL with the legacy `url.parse`) for every call even when the fetcher does not use
// it. What of it matters here is kept:
//  - the body is `{ query, variables, operationName, extensions }` as JSON, `content-type: application/json`;
//  - a 2xx JSON object is handed on whole (`data`, `errors`, `extensions`); anything else that
//    is not JSON fails the fetch;
//  - a non-2xx answer fails the fetch with its first GraphQL error, or with its HTTP status;
//  - headers the executor put on `request.http` are sent.
// Not kept: APQ (not used), and the subgraph's `cache-control` narrowing the response's cache
// policy (the gateway sends no HTTP cache hints: server.ts disables the cache-control plugin).
// Headers come from the ONE identity-forwarding hook (auth/forward-identity.ts). Failures become
// UPSTREAM_UNAVAILABLE / UPSTREAM_ERROR naming the subgraph; GraphQL errors get `serviceName`.
import { STATUS_CODES } from 'node:http';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions, ServiceEndpointDefinition } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { VotemeshError } from '@votemesh/common/errors';
import type { SubgraphCallContext } from '../gateway-context.ts';
import {
  createSubgraphAgent,
  createSubgraphHttpClient,
  UpstreamTimeoutError,
  type SubgraphAgentOptions,
  type SubgraphAnswer,
  type SubgraphHttpClient,
} from './subgraph-http.ts';

type GatewayResponse = Awaited<ReturnType<GraphQLDataSource['process']>>;
export type SubgraphFetchOptions = GraphQLDataSourceProcessOptions<SubgraphCallContext>;

/** Builds the headers of one subgraph call (auth/forward-identity.ts). */
export type SubgraphHeaders = (options: SubgraphFetchOptions) => Record<string, string>;

export interface SubgraphDataSourcesOptions {
  /** Subgraph name → URL the gateway uses (SUBGRAPH_URL_<NAME> overrides applied). */
  readonly urls: ReadonlyMap<string, string>;
  /** The headers of every call: the identity-forwarding hook (auth/forward-identity.ts). */
  readonly headersFor: SubgraphHeaders;
  /** How long one subgraph call may take (UPSTREAM_TIMEOUT_MS). @default 10000 */
  readonly timeoutMs?: number;
  /** The connection pool's settings. @default createSubgraphAgent's */
  readonly pool?: SubgraphAgentOptions;
}

export interface SubgraphDataSources {
  /** One data source per subgraph, shared by the query path and subscription events. */
  readonly byName: Readonly<Record<string, SubgraphDataSource>>;
  /** `buildService` for ApolloGateway: the data source of a subgraph in `urls`. */
  buildService(definition: ServiceEndpointDefinition): SubgraphDataSource;
  /** Closes the connection pool once in-flight calls are done. */
  close(): Promise<void>;
}

export function createSubgraphDataSources(options: SubgraphDataSourcesOptions): SubgraphDataSources {
  const agent = createSubgraphAgent(options.pool);
  const byName: Record<string, SubgraphDataSource> = Object.create(null);
  for (const [name, url] of options.urls) {
    if (!url) continue; // buildService names the missing setting
    const http = createSubgraphHttpClient(url, { dispatcher: agent, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
    byName[name] = new SubgraphDataSource(name, http, options.headersFor);
  }
  return {
    byName,
    buildService({ name }) {
      const source = byName[name];
      if (!source) throw new Error(`Subgraph "${name}" has no URL in the supergraph; set SUBGRAPH_URL_${name.toUpperCase()}`);
      return source;
    },
    close: () => agent.close(),
  };
}

/** A planner-printed subgraph operation that is a mutation (entity fetches after one are queries). */
const MUTATION = /^\s*mutation\b/;

export class SubgraphDataSource implements GraphQLDataSource<SubgraphCallContext> {
  readonly serviceName: string;
  readonly #http: SubgraphHttpClient;
  readonly #headersFor: SubgraphHeaders;

  constructor(serviceName: string, http: SubgraphHttpClient, headersFor: SubgraphHeaders) {
    this.serviceName = serviceName;
    this.#http = http;
    this.#headersFor = headersFor;
  }

  async process(options: SubgraphFetchOptions): Promise<GatewayResponse> {
    const { query, variables, operationName, extensions } = options.request;
    if (!query) throw new Error('Missing query');
    const body = JSON.stringify({ query, variables, operationName, extensions });
    let answer: SubgraphAnswer;
    try {
      answer = await this.#http.post(this.#headersFor(options), body, !MUTATION.test(query));
    } catch (error) {
      throw this.#unreachable(error);
    }
    return this.#read(answer);
  }

  #read(answer: SubgraphAnswer): GatewayResponse {
    if (answer.status < 200 || answer.status >= 300) throw this.#failedStatus(answer);
    const details = { serviceName: this.serviceName };
    const type = answer.contentType;
    if (type !== undefined && (type.startsWith('application/json') || type.startsWith('application/graphql-response+json'))) {
      let body: unknown;
      try {
        body = JSON.parse(answer.body);
      } catch (error) {
        throw new VotemeshError('UPSTREAM_ERROR', `Subgraph "${this.serviceName}" answered something other than JSON`, { cause: error, details });
      }
      // A JSON object is a GraphQL response; Apollo's executor reads data, errors and extensions.
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as GatewayResponse;
    }
    const cause = new Error(`Expected JSON response body, but received: ${answer.body.slice(0, 200)}`);
    throw new VotemeshError('UPSTREAM_ERROR', `Subgraph "${this.serviceName}" answered something other than JSON`, { cause, details });
  }

  /** A non-2xx answer: its first GraphQL error (a subgraph error carrying its HTTP status), or the status. */
  #failedStatus(answer: SubgraphAnswer): GraphQLError {
    const first = firstGraphQLError(answer.body);
    if (first) return new GraphQLError(first.message, { extensions: { ...first.extensions, serviceName: this.serviceName } });
    const statusText = STATUS_CODES[answer.status] ?? '';
    return new VotemeshError('UPSTREAM_ERROR', `Subgraph "${this.serviceName}" answered HTTP ${answer.status} ${statusText}`.trim(), {
      details: { serviceName: this.serviceName, status: answer.status },
    });
  }

  #unreachable(error: unknown): Error {
    const details = { serviceName: this.serviceName };
    if (error instanceof UpstreamTimeoutError) {
      return new VotemeshError('UPSTREAM_UNAVAILABLE', `Subgraph "${this.serviceName}" did not answer within ${error.timeoutMs} ms`, { cause: error, details });
    }
    return new VotemeshError('UPSTREAM_UNAVAILABLE', `Subgraph "${this.serviceName}" could not be reached`, { cause: error, details });
  }
}

function firstGraphQLError(text: string): { message: string; extensions: Record<string, unknown> } | undefined {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    const first: unknown = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (typeof first !== 'object' || first === null) return undefined;
    const { message, extensions } = first as { message?: unknown; extensions?: unknown };
    if (typeof message !== 'string') return undefined;
    return { message, extensions: typeof extensions === 'object' && extensions !== null ? { ...extensions } : {} };
  } catch {
    return undefined;
  }
}
