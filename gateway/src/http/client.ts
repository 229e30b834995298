// Who a request comes from (for rate limiting) and whether it asks for a subscription stream.
import type { IncomingMessage } from 'node:http';
import type { VerifiedIdentity } from '../auth/verify-token.ts';

/**
 * The client address: the socket peer, or the first `x-forwarded-for` hop when the gateway sits
 * behind a proxy that sets it (TRUST_FORWARDED_FOR; never trust it when clients can reach us directly).
 */
export function clientAddress(req: IncomingMessage, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** Verified callers are limited per subject (wherever they connect from), anonymous ones per address. */
export function clientKey(req: IncomingMessage, identity: VerifiedIdentity | undefined, trustForwardedFor: boolean): string {
  return clientKeyOf(identity, clientAddress(req, trustForwardedFor));
}

/** The same key from an address already taken (a socket's or stream's, at connection time). */
export function clientKeyOf(identity: { readonly subject: string } | undefined, address: string): string {
  return identity ? `sub:${identity.subject}` : `ip:${address}`;
}

/**
 * True for requests a subscription transport should see first: SSE (`Accept: text/event-stream`),
 * multipart subscriptions (`Accept: multipart/mixed`), and graphql-sse's single-connection mode
 * (PUT to reserve a stream, DELETE to stop one, `x-graphql-event-stream-token`).
 */
export function isSubscriptionStreamRequest(req: IncomingMessage): boolean {
  const accept = (req.headers.accept ?? '').toLowerCase();
  return (
    accept.includes('text/event-stream') ||
    accept.includes('multipart/mixed') ||
    req.method === 'PUT' ||
    req.method === 'DELETE' ||
    req.headers['x-graphql-event-stream-token'] !== undefined
  );
}
