// The per-request context the gateway builds for every GraphQL operation and hands to the query
// plan's data sources (forward-identity.ts reads it). One object per client request.
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
