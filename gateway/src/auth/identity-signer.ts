// Signs the identity the gateway forwards to subgraphs (`x-votemesh-identity`, graphql-ws
// `connectionParams.identity`): the same HS256 JWT as `signIdentity` in
// common/src/contracts/identity.ts — `verifyIdentity` there accepts it — but signed synchronously
// with node:crypto's HMAC instead of an async WebCrypto job, and reused per (subject, role) for
// half its lifetime: a voter's requests within that time all forward the same token, so the
// gateway signs about once per caller per half-lifetime instead of once per request.
import { createHmac, createSecretKey } from 'node:crypto';
import { IDENTITY_AUDIENCE, IDENTITY_ISSUER, type Identity } from '@votemesh/common/contracts/identity';

export interface IdentitySignerOptions {
  /** HMAC key shared with the subgraphs (IDENTITY_SECRET as bytes). */
  readonly key: Uint8Array;
  /** Lifetime of a signed identity; a token is reused for the first half of it. @default 60 */
  readonly ttlSeconds?: number;
  /** Distinct callers remembered (LRU). @default 10000 */
  readonly cacheSize?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

export interface IdentitySigner {
  /** A token valid for at least half of `ttlSeconds` from now. */
  sign(identity: Identity): string;
}

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export function createIdentitySigner(options: IdentitySignerOptions): IdentitySigner {
  const ttlSeconds = options.ttlSeconds ?? 60;
  const cacheSize = options.cacheSize ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { token: string; renewAt: number }>();
  // A KeyObject once: with raw bytes, every createHmac would prepare the key again.
  const key = createSecretKey(options.key);

  function signNow(identity: Identity, at: number): string {
    const iat = Math.floor(at / 1000);
    const claims = { role: identity.role, sub: identity.subject, iss: IDENTITY_ISSUER, aud: IDENTITY_AUDIENCE, iat, exp: iat + ttlSeconds };
    const input = `${HEADER}.${base64url(JSON.stringify(claims))}`;
    return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
  }

  return {
    sign(identity) {
      const at = now();
      const key = `${identity.role}\u0000${identity.subject}`;
      const cached = cache.get(key);
      if (cached) {
        cache.delete(key);
        if (cached.renewAt > at) {
          cache.set(key, cached); // most recently used last
          return cached.token;
        }
      }
      const token = signNow(identity, at);
      cache.set(key, { token, renewAt: at + (ttlSeconds * 1000) / 2 });
      if (cache.size > cacheSize) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      return token;
    },
  };
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
