// Verifies bearer tokens (JWT) against a JWKS: the built-in dev issuer's keys, or any OIDC
// issuer's (`jwks_uri` from its discovery document unless AUTH_JWKS_URL names it). Every failure is
// a VotemeshError with a precise code and a message that says what was wrong.
import { hash } from 'node:crypto';
import { VotemeshError } from '@votemesh/common/errors';
import { ROLES, type Identity, type Role } from '@votemesh/common/contracts/identity';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';

/** A verified caller: the identity the gateway forwards plus what the token itself said. */
export interface VerifiedIdentity extends Identity {
  readonly scopes: readonly string[];
  /** The token's `exp` (seconds since the epoch); subscriptions close when it passes. */
  readonly expiresAt: number | undefined;
}

export interface TokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  /** A local key set (the dev issuer's). Takes precedence over `jwksUrl`. */
  readonly jwks?: JSONWebKeySet;
  /** Remote key set URL; unset (and no `jwks`) → `jwks_uri` from `<issuer>/.well-known/openid-configuration`. */
  readonly jwksUrl?: string;
  /** Leeway for `exp`/`nbf`/`iat` between clocks. @default 5 */
  readonly clockToleranceSeconds?: number;
  /** Accepted signature algorithms. @default ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] */
  readonly algorithms?: readonly string[];
  /** Verified tokens remembered (LRU), so a client's next request skips the signature check. 0 = off. @default 10000 */
  readonly cacheSize?: number;
  /**
   * A remembered token is verified again after this long even if it has not expired, so a key
   * removed from the issuer's JWKS stops being honoured within this time. @default 300000
   */
  readonly cacheMaxAgeMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

export interface TokenVerifier {
  /** No token → undefined (the caller is anonymous); a bad token → throws VotemeshError. */
  verify(token?: string): Promise<VerifiedIdentity | undefined>;
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = [...(options.algorithms ?? ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'])];
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const getKeys = (): Promise<JWTVerifyGetKey> => {
    keys ??= resolveKeySet(options).catch((error: unknown) => {
      keys = undefined; // retry discovery on the next request
      throw error;
    });
    return keys;
  };

  // Signature verification (ES256 through WebCrypto) is the costliest step of a request, and a
  // client sends the same token for its whole session. Successes only are remembered, keyed by the
  // exact token (its SHA-256, so the cache holds no copy of each token), until the token's `exp`
  // (then it is verified again and refused as expired) and at most `cacheMaxAgeMs`. Failures are
  // never cached: the answer for them must stay precise.
  const cacheSize = options.cacheSize ?? 10_000;
  const maxAgeMs = options.cacheMaxAgeMs ?? 300_000;
  const now = options.now ?? Date.now;
  const verified = new Map<string, { identity: VerifiedIdentity; until: number }>();

  return {
    async verify(token) {
      if (token === undefined) return undefined;
      // One-shot hash: no Hash object per request.
      const cacheKey = hash('sha256', token, 'base64url');
      const hit = verified.get(cacheKey);
      if (hit) {
        verified.delete(cacheKey);
        if (hit.until > now()) {
          verified.set(cacheKey, hit); // most recently used last
          return hit.identity;
        }
      }
      const keySet = await getKeys();
      let identity: VerifiedIdentity;
      try {
        const { payload } = await jwtVerify(token, keySet, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance: options.clockToleranceSeconds ?? 5,
          requiredClaims: ['sub', 'exp'],
          currentDate: new Date(now()),
        });
        identity = toIdentity(payload);
      } catch (error) {
        throw toTokenError(error, options);
      }
      if (cacheSize > 0 && identity.expiresAt !== undefined) {
        const until = Math.min(identity.expiresAt * 1000, now() + maxAgeMs);
        if (until > now()) {
          verified.set(cacheKey, { identity: Object.freeze(identity), until });
          if (verified.size > cacheSize) {
            const oldest = verified.keys().next();
            if (!oldest.done) verified.delete(oldest.value);
          }
        }
      }
      return identity;
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header; other schemes are an error, not anonymity. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.trim() === '') return undefined;
  const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization.trim());
  if (!match?.[1]) {
    throw new VotemeshError('TOKEN_INVALID', 'The Authorization header must be "Bearer <token>"');
  }
  return match[1];
}

function toIdentity(payload: JWTPayload): VerifiedIdentity {
  const scopes = readScopes(payload);
  const claimedRole = ROLES.find((role) => role === payload['role']);
  if (payload['role'] !== undefined && claimedRole === undefined) {
    throw new VotemeshError('TOKEN_INVALID', `The token's role claim must be one of ${ROLES.join(', ')}, got ${JSON.stringify(payload['role'])}`);
  }
  const role: Role = claimedRole ?? (scopes.includes('admin') ? 'admin' : 'voter');
  return { subject: payload.sub ?? '', role, scopes: Object.freeze(scopes), expiresAt: payload.exp };
}

/** OAuth `scope` is a space-separated string; some issuers send `scp` as an array. */
function readScopes(payload: JWTPayload): string[] {
  const scope = payload['scope'] ?? payload['scp'];
  if (typeof scope === 'string') return scope.split(/\s+/).filter(Boolean);
  if (Array.isArray(scope)) return scope.filter((item): item is string => typeof item === 'string');
  return [];
}

function toTokenError(error: unknown, options: TokenVerifierOptions): VotemeshError {
  if (error instanceof VotemeshError) return error;
  if (error instanceof errors.JWTExpired) {
    const at = typeof error.payload.exp === 'number' ? ` at ${new Date(error.payload.exp * 1000).toISOString()}` : '';
    return new VotemeshError('TOKEN_EXPIRED', `The bearer token expired${at}; get a new one`, { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      return new VotemeshError(
        'TOKEN_WRONG_AUDIENCE',
        `The bearer token is for audience ${JSON.stringify(error.payload.aud ?? null)}, expected "${options.audience}"`,
        { cause: error },
      );
    }
    if (error.claim === 'iss') {
      return new VotemeshError(
        'TOKEN_WRONG_AUDIENCE',
        `The bearer token was issued by ${JSON.stringify(error.payload.iss ?? null)}, expected "${options.issuer}"`,
        { cause: error },
      );
    }
    return new VotemeshError('TOKEN_INVALID', `The bearer token's "${error.claim}" claim is invalid: ${error.message}`, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new VotemeshError('TOKEN_INVALID', 'The bearer token signature does not verify against the issuer keys', { cause: error });
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new VotemeshError('TOKEN_INVALID', "No key of the issuer's JWKS matches the bearer token (unknown kid or algorithm)", { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new VotemeshError('TOKEN_INVALID', `The bearer token's signature algorithm is not accepted: ${error.message}`, { cause: error });
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error instanceof TypeError) {
    return new VotemeshError('UPSTREAM_UNAVAILABLE', 'The token issuer keys (JWKS) could not be fetched; retry later', { cause: error });
  }
  if (error instanceof errors.JOSEError) {
    return new VotemeshError('TOKEN_INVALID', `The bearer token is malformed: ${error.message}`, { cause: error });
  }
  return new VotemeshError('TOKEN_INVALID', 'The bearer token could not be verified', { cause: error });
}

async function resolveKeySet(options: TokenVerifierOptions): Promise<JWTVerifyGetKey> {
  if (options.jwks) return createLocalJWKSet(options.jwks);
  const jwksUrl = options.jwksUrl ?? (await discoverJwksUri(options.issuer));
  return createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
}

async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    throw new VotemeshError('UPSTREAM_UNAVAILABLE', `OIDC discovery at ${url} failed; set AUTH_JWKS_URL or fix AUTH_ISSUER`, { cause: error });
  }
  const jwksUri = (body as { jwks_uri?: unknown } | null)?.jwks_uri;
  if (typeof jwksUri !== 'string') {
    throw new VotemeshError('UPSTREAM_UNAVAILABLE', `OIDC discovery document at ${url} has no jwks_uri`);
  }
  return jwksUri;
}
