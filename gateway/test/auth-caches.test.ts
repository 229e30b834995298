// The per-request crypto the gateway avoids: verified bearer tokens are remembered until their
// `exp` (never failures), and the forwarded identity is signed with node:crypto HMAC, reused per
// caller for half its lifetime, and still verifies with common's `verifyIdentity`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identitySecretKey, verifyIdentity } from '@votemesh/common/contracts/identity';
import { VotemeshError } from '@votemesh/common/errors';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createDevIssuer } from '../src/auth/dev-issuer.ts';
import { createIdentitySigner } from '../src/auth/identity-signer.ts';
import { createTokenVerifier } from '../src/auth/verify-token.ts';

describe('token verification cache', () => {
  it('returns the remembered identity for a verified token until its exp, then refuses it as expired', async () => {
    const issuer = await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh' });
    let now = Date.now();
    const verifier = createTokenVerifier({ issuer: 'urn:test', audience: 'votemesh', jwks: issuer.jwks, clockToleranceSeconds: 0, now: () => now });
    const { token } = await issuer.issue('voter:1', 'voter', 60);
    const first = await verifier.verify(token);
    assert.equal(first?.subject, 'voter:1');
    assert.equal(await verifier.verify(token), first, 'the same object: no second verification');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first?.scopes), 'shared between requests, so frozen');

    now += 61_000;
    await assert.rejects(verifier.verify(token), (error: unknown) => error instanceof VotemeshError && error.code === 'TOKEN_EXPIRED');
  });

  it('verifies again after cacheMaxAgeMs, and never remembers a failure', async () => {
    const issuer = await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh' });
    let now = Date.now();
    const verifier = createTokenVerifier({ issuer: 'urn:test', audience: 'votemesh', jwks: issuer.jwks, cacheMaxAgeMs: 1000, now: () => now });
    const { token } = await issuer.issue('voter:2', 'voter', 3600);
    const first = await verifier.verify(token);
    now += 1001;
    const second = await verifier.verify(token);
    assert.notEqual(second, first, 're-verified after the max age');
    assert.deepEqual(second, first);

    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(86)}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(verifier.verify(forged), (error: unknown) => error instanceof VotemeshError && error.code === 'TOKEN_INVALID');
    }
  });

  it('with cacheSize 0 verifies every time', async () => {
    const issuer = await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh' });
    const verifier = createTokenVerifier({ issuer: 'urn:test', audience: 'votemesh', jwks: issuer.jwks, cacheSize: 0 });
    const { token } = await issuer.issue('voter:3', 'voter', 60);
    assert.notEqual(await verifier.verify(token), await verifier.verify(token));
  });
});

describe('identity signer', () => {
  const key = identitySecretKey('auth-caches-test-secret');

  it('signs an HS256 JWT that verifyIdentity accepts, with the contract claims', async () => {
    const signer = createIdentitySigner({ key, ttlSeconds: 60 });
    const token = signer.sign({ subject: 'voter:abc', role: 'voter' });
    assert.deepEqual(await verifyIdentity(key, token), { subject: 'voter:abc', role: 'voter' });
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(token);
    assert.equal(claims.iss, 'votemesh-gateway');
    assert.equal(claims.aud, 'votemesh-subgraphs');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 60);
    await assert.rejects(
      verifyIdentity(identitySecretKey('another-secret'), token),
      (error: unknown) => error instanceof VotemeshError && error.code === 'IDENTITY_MISSING',
    );
  });

  it("reuses a caller's token for half its lifetime, per subject and role", () => {
    let now = 1_700_000_000_000;
    const signer = createIdentitySigner({ key, ttlSeconds: 60, now: () => now });
    const token = signer.sign({ subject: 'voter:1', role: 'voter' });
    now += 29_000;
    assert.equal(signer.sign({ subject: 'voter:1', role: 'voter' }), token);
    assert.notEqual(signer.sign({ subject: 'voter:2', role: 'voter' }), token);
    assert.notEqual(signer.sign({ subject: 'voter:1', role: 'admin' }), token);
    now += 1_000;
    const renewed = signer.sign({ subject: 'voter:1', role: 'voter' });
    assert.notEqual(renewed, token, 'renewed at half its lifetime');
    assert.equal(decodeJwt(renewed).iat, Math.floor(now / 1000));
  });
});
