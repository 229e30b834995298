// The per-request context the gateway builds for every GraphQL operation and hands to the query
// plan's data sources (auth/forward-identity.ts reads it). One object per client request.
import type { Identity } from '@votemesh/common/contracts/identity';
import type { VerifiedIdentity } from './auth/verify-token.ts';

export type TraceHeaderName = 'traceparent' | 'tracestate' | 'baggage';

export interface GatewayContext {
  /** The verified caller, or undefined for an anonymous request. */
  readonly identity: VerifiedIdentity | undefined;
  /** The request id (accepted from `x-request-id` or generated), forwarded to every subgraph. */
  readonly requestId: string;
  /** The client's W3C trace headers, forwarded when no telemetry span is active. */
  readonly traceHeaders: Readonly<Partial<Record<TraceHeaderName, string>>>;
}

/**
 * What a subgraph fetch reads of its operation's context: a GatewayContext for client operations,
 * or the subscription hub's resolution context (an identity it already signed for the scope) for
 * the entity fetches of subscription events.
 */
export interface SubgraphCallContext {
  /** The caller, signed into `x-votemesh-identity` by the data source. */
  readonly identity?: Identity | undefined;
  /** An identity token already signed for this context; forwarded as it is. */
  readonly identityToken?: string | undefined;
  readonly requestId?: string | undefined;
  readonly traceHeaders?: Readonly<Partial<Record<TraceHeaderName, string>>>;
}
