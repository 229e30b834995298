// Tokens a test signs itself with the key it gives the gateway's dev issuer
// (DEV_ISSUER_PRIVATE_JWK), to present what the issuer never hands out: expired tokens, tokens for
// another audience or issuer. ES256 with node:crypto, so e2e needs no JWT library.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export interface TokenSigner {
  /** The private key as JWK JSON, for the gateway's DEV_ISSUER_PRIVATE_JWK. */
  readonly privateJwk: string;
  /** A voter token with these claims over the dev issuer's defaults (iss, aud, a 1 h lifetime). */
  sign(claims?: Record<string, unknown>): string;
}

export function createTokenSigner(): TokenSigner {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateJwk: JSON.stringify(privateKey.export({ format: 'jwk' })), sign: (claims = {}) => signJwt(privateKey, claims) };
}

function signJwt(key: KeyObject, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES256', typ: 'JWT' };
  const payload = { iss: 'urn:votemesh:dev-issuer', aud: 'votemesh', sub: `voter:${now}`, role: 'voter', iat: now, exp: now + 3600, ...claims };
  const signed = `${encode(header)}.${encode(payload)}`;
  // JWS wants the raw r||s signature (IEEE P1363), not DER.
  const signature = sign('sha256', Buffer.from(signed), { key, dsaEncoding: 'ieee-p1363' });
  return `${signed}.${signature.toString('base64url')}`;
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
