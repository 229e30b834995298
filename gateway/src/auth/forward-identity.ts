// The ONE data-source hook between the gateway and its subgraphs: the headers of every subgraph
// call, for client operations and for the entity fetches of subscription events alike
// (upstream/subgraph-data-source.ts calls it). For every call it:
//  - never passes on an `x-votemesh-identity` it did not set (a client must never be able to forge one),
//  - forwards the caller as a short-lived HS256 JWT in `x-votemesh-identity`: a client operation's
//    verified caller, signed here by the shared IdentitySigner (which reuses a caller's token for
//    half its lifetime; one client request uses one token for every fetch of its query plan), or
//    the token the subscription hub already signed for an event's scope,
//  - propagates `x-request-id` and W3C trace context (`traceparent`, `tracestate`, `baggage`).
import { context as otelContext, propagation } from '@opentelemetry/api';
import { IDENTITY_HEADER } from '@votemesh/common/contracts/identity';
import { REQUEST_ID_HEADER } from '@votemesh/common/telemetry/names';
import type { SubgraphCallContext, TraceHeaderName } from '../gateway-context.ts';
import type { SubgraphHeaders } from '../upstream/subgraph-data-source.ts';
import type { IdentitySigner } from './identity-signer.ts';

const TRACE_HEADERS: readonly TraceHeaderName[] = ['traceparent', 'tracestate', 'baggage'];

export interface IdentityForwardingOptions {
  /**
   * Signs a client operation's caller (identity-signer.ts; its tokens only have to outlive one
   * request's fetches). Without one, only contexts carrying an `identityToken` forward an identity.
   */
  readonly signer?: IdentitySigner;
}

export function createIdentityForwarding(options: IdentityForwardingOptions = {}): SubgraphHeaders {
  const signed = new WeakMap<SubgraphCallContext, string>();
  const forwardedIdentity = (ctx: SubgraphCallContext): string | undefined => {
    if (ctx.identityToken !== undefined) return ctx.identityToken;
    if (!ctx.identity || !options.signer) return undefined;
    let token = signed.get(ctx);
    if (token === undefined) {
      token = options.signer.sign(ctx.identity);
      signed.set(ctx, token);
    }
    return token;
  };

  return (fetch) => {
    const { request } = fetch;
    const headers: Record<string, string> = {};
    // Headers the executor asked for (e.g. federated tracing), never an identity.
    if (request.http) {
      for (const [name, value] of request.http.headers) if (name.toLowerCase() !== IDENTITY_HEADER) headers[name.toLowerCase()] = value;
    }
    headers['content-type'] = 'application/json';
    // Only client operations and subscription events carry a context (health checks do not).
    if (!('incomingRequestContext' in fetch)) return headers;
    const ctx = fetch.context;
    const identity = forwardedIdentity(ctx);
    if (identity !== undefined) headers[IDENTITY_HEADER] = identity;
    if (ctx.requestId !== undefined) headers[REQUEST_ID_HEADER] = ctx.requestId;
    // The active span's context when telemetry runs; else pass the client's own through.
    propagation.inject(otelContext.active(), headers);
    if (ctx.traceHeaders) {
      for (const name of TRACE_HEADERS) {
        const value = ctx.traceHeaders[name];
        if (headers[name] === undefined && value !== undefined) headers[name] = value;
      }
    }
    return headers;
  };
}
