// The identity the gateway forwards to subgraphs (docs/contracts/identity.md). The gateway signs
// it as a short-lived HS256 JWT in the `x-votemesh-identity` header (HTTP) or the
// `identity` field of graphql-ws `connection_init` (subscriptions); subgraphs verify it with the
// shared IDENTITY_SECRET and refuse voter/admin operations without it.
import { errors, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { VotemeshError } from '../errors.ts';

export const IDENTITY_HEADER = 'x-votemesh-identity';
export const IDENTITY_ISSUER = 'votemesh-gateway';
export const IDENTITY_AUDIENCE = 'votemesh-subgraphs';
export const ROLES = ['voter', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  /** Stable id of the caller: the voter id for voters, the admin's subject for admins. */
  readonly subject: string;
  readonly role: Role;
}

export function identitySecretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

const importedKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

/**
 * Given raw bytes, jose imports them into WebCrypto on every sign and verify, which is most of
 * the cost of an HS256 token here. A key is imported once, on first use.
 */
function hmacKeyOf(key: Uint8Array): Promise<CryptoKey> {
  let imported = importedKeys.get(key);
  if (imported === undefined) {
    imported = crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    importedKeys.set(key, imported);
  }
  return imported;
}

export async function signIdentity(key: Uint8Array, identity: Identity, ttlSeconds = 300): Promise<string> {
  return new SignJWT({ role: identity.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(identity.subject)
    .setIssuer(IDENTITY_ISSUER)
    .setAudience(IDENTITY_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(await hmacKeyOf(key));
}

/** Verifies a forwarded identity; throws IDENTITY_MISSING saying why when it cannot be trusted. */
export async function verifyIdentity(key: Uint8Array, token: string): Promise<Identity> {
  try {
    const { payload } = await jwtVerify(token, await hmacKeyOf(key), { issuer: IDENTITY_ISSUER, audience: IDENTITY_AUDIENCE, algorithms: ['HS256'] });
    const role = ROLES.find((candidate) => candidate === payload['role']);
    if (!payload.sub || !role) throw new VotemeshError('IDENTITY_MISSING', 'Forwarded identity lacks a subject or a known role');
    return { subject: payload.sub, role };
  } catch (error) {
    if (error instanceof VotemeshError) throw error;
    const why = error instanceof errors.JWTExpired ? 'has expired' : 'does not verify';
    throw new VotemeshError('IDENTITY_MISSING', `Forwarded identity ${why}; call this subgraph through the gateway`, { cause: error });
  }
}

export function requireIdentity(identity: Identity | undefined, role?: Role): Identity {
  if (!identity) {
    throw new VotemeshError('IDENTITY_MISSING', 'This operation needs an authenticated caller forwarded by the gateway');
  }
  if (role === 'admin' && identity.role !== 'admin') {
    throw new VotemeshError('FORBIDDEN', 'This operation requires the admin role');
  }
  return identity;
}
