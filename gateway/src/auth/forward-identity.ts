// The ONE data-source hook between the gateway and its subgraphs. For every subgraph call it:
//  - removes any `x-votemesh-identity` (a client must never be able to forge one),
//  - forwards the verified caller as a short-lived HS256 JWT in `x-votemesh-identity`
//    (from the shared IdentitySigner, which reuses a caller's token for half its lifetime; one
//    client request uses one token for every fetch of its query plan),
//  - propagates `x-request-id` and W3C trace context (`traceparent`, `tracestate`, `baggage`),
//  - turns transport failures into UPSTREAM_UNAVAILABLE / UPSTREAM_ERROR naming the subgraph.
import { context as otelContext, propagation } from '@opentelemetry/api';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceEndpointDefinition } from '@apollo/gateway';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { IDENTITY_HEADER } from '@votemesh/common/contracts/identity';
import { VotemeshError } from '@votemesh/common/errors';
import type { GatewayContext } from '../gateway-context.ts';
import { UpstreamTimeoutError } from '../upstream/upstream-timeout.ts';
import type { IdentitySigner } from './identity-signer.ts';

const TRACE_HEADERS = ['traceparent', 'tracestate', 'baggage'] as const;

export interface IdentityForwardingOptions {
  /** Signs the forwarded identity (identity-signer.ts; its tokens only have to outlive one request's fetches). */
  readonly signer: IdentitySigner;
  /** Subgraph URL overrides by subgraph name (SUBGRAPH_URL_<NAME>); else the supergraph's URL. */
  readonly urlFor?: (definition: ServiceEndpointDefinition) => string;
  /** The fetch used for subgraph calls (see upstream-timeout.ts). */
  readonly fetcher: Fetcher;
}

/** `buildService` for ApolloGateway. */
export function createSubgraphDataSources(
  options: IdentityForwardingOptions,
): (definition: ServiceEndpointDefinition) => RemoteGraphQLDataSource<GatewayContext> {
  const signed = new WeakMap<GatewayContext, string>();
  const forwardedIdentity = (ctx: GatewayContext): string | undefined => {
    if (!ctx.identity) return undefined;
    let token = signed.get(ctx);
    if (token === undefined) {
      token = options.signer.sign(ctx.identity);
      signed.set(ctx, token);
    }
    return token;
  };
  return (definition) => {
    const url = options.urlFor?.(definition) ?? definition.url;
    if (!url) throw new Error(`Subgraph "${definition.name}" has no URL in the supergraph; set SUBGRAPH_URL_${definition.name.toUpperCase()}`);
    return new IdentityForwardingDataSource(definition.name, url, options.fetcher, forwardedIdentity);
  };
}

class IdentityForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly #serviceName: string;
  readonly #forwardedIdentity: (ctx: GatewayContext) => string | undefined;

  constructor(serviceName: string, url: string, fetcher: Fetcher, forwardedIdentity: (ctx: GatewayContext) => string | undefined) {
    super({ url, fetcher });
    this.#serviceName = serviceName;
    this.#forwardedIdentity = forwardedIdentity;
  }

  override async willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<void> {
    const headers = options.request.http?.headers;
    if (!headers) return;
    headers.delete(IDENTITY_HEADER);
    // Only client operations carry a GatewayContext (health checks and schema loads do not).
    if (!('incomingRequestContext' in options)) return;
    const ctx = options.context;
    const identity = this.#forwardedIdentity(ctx);
    if (identity !== undefined) headers.set(IDENTITY_HEADER, identity);
    headers.set('x-request-id', ctx.requestId);
    const carrier: Record<string, string> = {};
    propagation.inject(otelContext.active(), carrier);
    for (const name of TRACE_HEADERS) {
      // The active span's context when telemetry runs; else pass the client's own through.
      const value = carrier[name] ?? ctx.traceHeaders[name];
      if (value !== undefined) headers.set(name, value);
    }
  }

  override async errorFromResponse(response: FetcherResponse): Promise<GraphQLError> {
    const text = await response.text();
    const first = firstGraphQLError(text);
    if (first) {
      // A GraphQL answer with a non-2xx status (e.g. a subgraph error carrying its HTTP status).
      return new GraphQLError(first.message, { extensions: { ...first.extensions, serviceName: this.#serviceName } });
    }
    return new VotemeshError('UPSTREAM_ERROR', `Subgraph "${this.#serviceName}" answered HTTP ${response.status} ${response.statusText}`.trim(), {
      details: { serviceName: this.#serviceName, status: response.status },
    });
  }

  override didEncounterError(error: Error): never {
    if (error instanceof GraphQLError) {
      if (error.extensions['serviceName'] === undefined) error.extensions['serviceName'] = this.#serviceName;
      throw error;
    }
    const details = { serviceName: this.#serviceName };
    if (error instanceof UpstreamTimeoutError) {
      throw new VotemeshError('UPSTREAM_UNAVAILABLE', `Subgraph "${this.#serviceName}" did not answer within ${error.timeoutMs} ms`, { cause: error, details });
    }
    if (error.message.startsWith('Expected JSON response body')) {
      throw new VotemeshError('UPSTREAM_ERROR', `Subgraph "${this.#serviceName}" answered something other than JSON`, { cause: error, details });
    }
    throw new VotemeshError('UPSTREAM_UNAVAILABLE', `Subgraph "${this.#serviceName}" could not be reached`, { cause: error, details });
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
