// The built-in development issuer: anonymous voter tokens for anyone, admin tokens for whoever
// knows ADMIN_BOOTSTRAP_SECRET, signed with an ES256 key generated at start (or loaded from
// DEV_ISSUER_PRIVATE_JWK so replicas agree). It publishes its keys like any OIDC issuer.
//
//   POST /auth/token                         → voter token  { sub: 'voter:<uuid>', role: 'voter' }
//   POST /auth/token {"adminSecret": "…"}    → admin token  { sub: 'admin:<name|uuid>', role: 'admin', scope: 'admin' }
//   GET  /.well-known/jwks.json              → the public key set
//   GET  /.well-known/openid-configuration   → { issuer, jwks_uri, … }
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { sendJson } from '@votemesh/common/http-server';
import { VotemeshError } from '@votemesh/common/errors';
import type { Role } from '@votemesh/common/contracts/identity';
import { BodyTooLargeError, readLimitedBody, sendBodyTooLarge, sendError } from '../http/respond.ts';

export interface DevIssuerOptions {
  /** The `iss` of issued tokens. @default 'urn:votemesh:dev-issuer' */
  readonly issuer: string;
  /** The `aud` of issued tokens. @default 'votemesh' */
  readonly audience: string;
  /** Lifetime of issued tokens. @default 3600 */
  readonly tokenTtlSeconds?: number;
  /** A private ES256 key as JWK JSON; unset → a fresh key pair per process. */
  readonly privateJwk?: string;
  /** The secret that buys an admin token; unset → admin tokens are disabled. */
  readonly adminBootstrapSecret?: string;
}

export interface IssuedToken {
  readonly token: string;
  readonly tokenType: 'Bearer';
  readonly subject: string;
  readonly role: Role;
  readonly expiresIn: number;
  readonly expiresAt: string;
}

export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  /** The public key set verifiers use. */
  readonly jwks: JSONWebKeySet;
  issue(subject: string, role: Role, ttlSeconds?: number): Promise<IssuedToken>;
  /** Answers /auth/token and /.well-known/* and returns true; false for other paths. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

const ADMIN_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const TOKEN_BODY_LIMIT_BYTES = 4096;

export async function createDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  const ttl = options.tokenTtlSeconds ?? 3600;
  const { privateKey, publicJwk } = await loadKeys(options.privateJwk);
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] };
  const secretDigest = options.adminBootstrapSecret === undefined ? undefined : digest(options.adminBootstrapSecret);

  async function issue(subject: string, role: Role, ttlSeconds = ttl): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ role, ...(role === 'admin' ? { scope: 'admin' } : {}) })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(privateKey);
    return { token, tokenType: 'Bearer', subject, role, expiresIn: ttlSeconds, expiresAt: new Date((now + ttlSeconds) * 1000).toISOString() };
  }

  async function issueFromRequest(req: IncomingMessage): Promise<IssuedToken> {
    const body = await readTokenRequest(req);
    if (body.adminSecret === undefined) return issue(`voter:${randomUUID()}`, 'voter');
    if (secretDigest === undefined) {
      throw new VotemeshError('FORBIDDEN', 'Admin tokens are disabled: the gateway was started without ADMIN_BOOTSTRAP_SECRET');
    }
    if (!timingSafeEqual(digest(body.adminSecret), secretDigest)) {
      throw new VotemeshError('UNAUTHENTICATED', "adminSecret does not match the gateway's ADMIN_BOOTSTRAP_SECRET");
    }
    return issue(`admin:${body.name ?? randomUUID()}`, 'admin');
  }

  return {
    issuer: options.issuer,
    audience: options.audience,
    jwks,
    issue,
    async handle(req, res) {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/.well-known/jwks.json' && req.method === 'GET') {
        sendJson(res, 200, jwks, { 'cache-control': 'public, max-age=300' });
        return true;
      }
      if (path === '/.well-known/openid-configuration' && req.method === 'GET') {
        const base = `http://${req.headers.host ?? '127.0.0.1'}`;
        sendJson(res, 200, {
          issuer: options.issuer,
          jwks_uri: `${base}/.well-known/jwks.json`,
          token_endpoint: `${base}/auth/token`,
          id_token_signing_alg_values_supported: ['ES256'],
          response_types_supported: ['token'],
          subject_types_supported: ['public'],
          claims_supported: ['sub', 'role', 'scope', 'iss', 'aud', 'exp', 'iat', 'jti'],
        });
        return true;
      }
      if (path !== '/auth/token') return false;
      if (req.method !== 'POST') {
        sendJson(res, 405, { errors: [{ message: 'Use POST /auth/token', extensions: { code: 'BAD_USER_INPUT' } }] }, { allow: 'POST' });
        return true;
      }
      try {
        sendJson(res, 200, await issueFromRequest(req), { 'cache-control': 'no-store' });
      } catch (error) {
        if (error instanceof BodyTooLargeError) sendBodyTooLarge(res, error);
        else if (error instanceof VotemeshError) sendError(res, error, { 'cache-control': 'no-store' });
        else throw error;
      }
      return true;
    },
  };
}

async function readTokenRequest(req: IncomingMessage): Promise<{ adminSecret?: string; name?: string }> {
  const text = (await readLimitedBody(req, TOKEN_BODY_LIMIT_BYTES)).trim();
  if (text === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new VotemeshError('BAD_USER_INPUT', 'The /auth/token body must be JSON: {} for a voter token, {"adminSecret": "…"} for an admin token');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new VotemeshError('BAD_USER_INPUT', 'The /auth/token body must be a JSON object');
  }
  const { adminSecret, name } = body as Record<string, unknown>;
  if (adminSecret !== undefined && typeof adminSecret !== 'string') throw new VotemeshError('BAD_USER_INPUT', 'adminSecret must be a string');
  if (name !== undefined && (typeof name !== 'string' || !ADMIN_NAME.test(name))) {
    throw new VotemeshError('BAD_USER_INPUT', 'name must be 1-64 characters of letters, digits, ".", "_", "@" or "-"');
  }
  return { ...(adminSecret === undefined ? {} : { adminSecret }), ...(name === undefined ? {} : { name }) };
}

async function loadKeys(privateJwk: string | undefined): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  if (privateJwk === undefined) {
    const pair = await generateKeyPair('ES256', { extractable: true });
    return { privateKey: pair.privateKey, publicJwk: publicPart(await exportJWK(pair.publicKey)) };
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(privateJwk) as JWK;
  } catch (error) {
    throw new Error('DEV_ISSUER_PRIVATE_JWK must be a JSON Web Key (JSON)', { cause: error });
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new Error('DEV_ISSUER_PRIVATE_JWK must be a private P-256 EC key (kty "EC", crv "P-256", with "d")');
  }
  const privateKey = await importJWK(jwk, 'ES256');
  if (privateKey instanceof Uint8Array) throw new Error('DEV_ISSUER_PRIVATE_JWK must be an asymmetric key');
  return { privateKey, publicJwk: publicPart(jwk) };
}

function publicPart(jwk: JWK): JWK {
  if (!jwk.kty || !jwk.crv || !jwk.x || !jwk.y) throw new Error('The dev issuer key must be an EC key with kty, crv, x and y');
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
