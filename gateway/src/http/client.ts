// Who a request comes from (for rate limiting).
import type { IncomingMessage } from 'node:http';
import type { VerifiedIdentity } from '../auth/verify-token.ts';

/** How the client address is found behind proxies (TRUST_FORWARDED_FOR, TRUSTED_PROXY_HOPS). */
export interface ForwardedFor {
  readonly trustForwardedFor: boolean;
  /** How many proxies of ours append to `x-forwarded-for` (≥ 1). */
  readonly trustedProxyHops: number;
}

/**
 * The client address: the socket peer, or, behind proxies that set `x-forwarded-for`
 * (TRUST_FORWARDED_FOR; never trust it when clients can reach us directly), the entry
 * TRUSTED_PROXY_HOPS from the right. Each proxy appends the address it saw, so the right-most
 * entries are written by our proxies and everything left of them by the client: the left-most one
 * is whatever the client sent, and counting by it gave every request a bucket of its own. Fewer
 * entries than hops means the request did not come through all our proxies: the peer it is.
 */
export function clientAddress(req: IncomingMessage, forwarding: ForwardedFor): string {
  if (forwarding.trustForwardedFor) {
    const header = req.headers['x-forwarded-for'];
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    const entry = entries[entries.length - forwarding.trustedProxyHops];
    if (entry !== undefined) return entry;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** Verified callers are limited per subject (wherever they connect from), anonymous ones per address. */
export function clientKey(req: IncomingMessage, identity: VerifiedIdentity | undefined, forwarding: ForwardedFor): string {
  return clientKeyOf(identity, clientAddress(req, forwarding));
}

/**
 * The same key from an address already taken (a socket's or stream's, at connection time). The one
 * client key of the gateway: the rate limits store it in Redis (`<prefix>rl:sub:…`, `rl:ip:…`, so a
 * change of format resets every bucket mid-window) and the connection limiter counts by it.
 */
export function clientKeyOf(identity: { readonly subject: string } | undefined, address: string): string {
  return identity ? `sub:${identity.subject}` : `ip:${address}`;
}
