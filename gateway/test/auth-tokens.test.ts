// The built-in dev issuer (POST /auth/token, JWKS, discovery) and token verification with the
// precise error codes, both as a unit (createTokenVerifier) and through /graphql.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, decodeJwt } from 'jose';
import { createDevIssuer } from '../src/auth/dev-issuer.ts';
import { bearerToken, createTokenVerifier } from '../src/auth/verify-token.ts';
import { VotemeshError } from '@votemesh/common/errors';
import { startProductsSubgraph, startReviewsSubgraph, composeTestSupergraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { bearer, requestToken, startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

const ADMIN_SECRET = 'test-admin-secret-42';

async function privateJwk(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return JSON.stringify(await exportJWK(privateKey));
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof VotemeshError, `expected a VotemeshError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('createTokenVerifier', () => {
  it('returns undefined for no token and the identity for a good one, with exp', async () => {
    const issuer = await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh' });
    const verifier = createTokenVerifier({ issuer: 'urn:test', audience: 'votemesh', jwks: issuer.jwks });
    assert.equal(await verifier.verify(undefined), undefined);
    const issued = await issuer.issue('voter:1', 'voter', 120);
    const identity = await verifier.verify(issued.token);
    assert.deepEqual({ ...identity }, { subject: 'voter:1', role: 'voter', scopes: [], expiresAt: decodeJwt(issued.token).exp });
    const admin = await verifier.verify((await issuer.issue('admin:ops', 'admin')).token);
    assert.equal(admin?.role, 'admin');
    assert.deepEqual(admin?.scopes, ['admin']);
  });

  // One table of bad tokens → the precise code and what the message must say.
  const cases: { name: string; token: () => Promise<string>; code: string; message: RegExp }[] = [];
  let verifier: ReturnType<typeof createTokenVerifier>;
  let issuerKey: string;
  before(async () => {
    issuerKey = await privateJwk();
    const issuer = await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh', privateJwk: issuerKey });
    verifier = createTokenVerifier({ issuer: 'urn:test', audience: 'votemesh', jwks: issuer.jwks, clockToleranceSeconds: 0 });
  });
  cases.push(
    {
      name: 'expired',
      token: async () =>
        (await (await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh', privateJwk: issuerKey })).issue('voter:1', 'voter', -60)).token,
      code: 'TOKEN_EXPIRED',
      message: /^The bearer token expired at \d{4}-\d\d-\d\dT.*; get a new one$/,
    },
    {
      name: 'wrong audience',
      token: async () =>
        (await (await createDevIssuer({ issuer: 'urn:test', audience: 'someone-else', privateJwk: issuerKey })).issue('voter:1', 'voter')).token,
      code: 'TOKEN_WRONG_AUDIENCE',
      message: /audience "someone-else", expected "votemesh"/,
    },
    {
      name: 'wrong issuer',
      token: async () => (await (await createDevIssuer({ issuer: 'urn:evil', audience: 'votemesh', privateJwk: issuerKey })).issue('voter:1', 'voter')).token,
      code: 'TOKEN_WRONG_AUDIENCE',
      message: /issued by "urn:evil", expected "urn:test"/,
    },
    {
      name: 'bad signature (tampered payload)',
      token: async () => {
        const [header, , signature] = (
          await (await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh', privateJwk: issuerKey })).issue('voter:1', 'voter')
        ).token.split('.');
        const forged = Buffer.from(JSON.stringify({ sub: 'admin:me', role: 'admin', iss: 'urn:test', aud: 'votemesh', exp: 9_999_999_999 })).toString(
          'base64url',
        );
        return `${header}.${forged}.${signature}`;
      },
      code: 'TOKEN_INVALID',
      message: /signature does not verify/,
    },
    {
      name: 'signed by an unknown key',
      token: async () => (await (await createDevIssuer({ issuer: 'urn:test', audience: 'votemesh' })).issue('voter:1', 'voter')).token,
      code: 'TOKEN_INVALID',
      message: /No key of the issuer's JWKS matches/,
    },
    { name: 'malformed', token: async () => 'not-a-jwt', code: 'TOKEN_INVALID', message: /malformed/ },
  );
  for (const testCase of cases) {
    it(`rejects a token that is ${testCase.name} with ${testCase.code}`, async () => {
      await rejects(verifier.verify(await testCase.token()), testCase.code, testCase.message);
    });
  }

  it('reads the Authorization header strictly', () => {
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer   abc '), 'abc');
    assert.throws(() => bearerToken('Basic dXNlcjpwYXNz'), /must be "Bearer <token>"/);
  });
});

describe('dev issuer over HTTP', () => {
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;

  before(async () => {
    products = await startProductsSubgraph({ withAuth: true });
    reviews = await startReviewsSubgraph();
    gateway = await startTestGateway(composeTestSupergraph([products, reviews]), { ADMIN_BOOTSTRAP_SECRET: ADMIN_SECRET, TOKEN_TTL_SECONDS: '600' });
  });
  after(async () => {
    await gateway?.close();
    await products?.close();
    await reviews?.close();
  });

  it('issues an anonymous voter token that the gateway accepts', async () => {
    const { status, body } = await requestToken(gateway.url);
    assert.equal(status, 200);
    assert.equal(body['tokenType'], 'Bearer');
    assert.equal(body['role'], 'voter');
    assert.equal(body['expiresIn'], 600);
    assert.match(String(body['subject']), /^voter:[0-9a-f-]{36}$/);
    const claims = decodeJwt(String(body['token']));
    assert.equal(claims.sub, body['subject']);
    assert.equal(claims['role'], 'voter');
    assert.equal(claims.aud, 'votemesh');
    assert.equal(claims.iss, 'urn:votemesh:dev-issuer');
    const { body: answer } = await gateway.graphql({ query: '{ viewer { subject role } }' }, bearer(body['token']));
    assert.deepEqual(answer, { data: { viewer: { subject: body['subject'], role: 'voter' } } });
  });

  it('issues an admin token for the bootstrap secret, optionally named', async () => {
    const { status, body } = await requestToken(gateway.url, { adminSecret: ADMIN_SECRET, name: 'alice' });
    assert.equal(status, 200);
    assert.equal(body['role'], 'admin');
    assert.equal(body['subject'], 'admin:alice');
    assert.equal(decodeJwt(String(body['token']))['scope'], 'admin');
  });

  it('answers a wrong admin secret with 401 and a clear message', async () => {
    const { status, body } = await requestToken(gateway.url, { adminSecret: 'guess' });
    assert.equal(status, 401);
    assert.deepEqual(body, {
      errors: [{ message: "adminSecret does not match the gateway's ADMIN_BOOTSTRAP_SECRET", extensions: { code: 'UNAUTHENTICATED' } }],
    });
  });

  it('refuses a malformed token request', async () => {
    const response = await fetch(`${gateway.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code, 'BAD_USER_INPUT');
  });

  it('publishes its JWKS and an OpenID configuration pointing at it', async () => {
    const config = (await (await fetch(`${gateway.url}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    assert.equal(config.issuer, 'urn:votemesh:dev-issuer');
    assert.equal(config.jwks_uri, `${gateway.url}/.well-known/jwks.json`);
    const jwks = (await (await fetch(config.jwks_uri)).json()) as { keys: { kty: string; alg: string; kid: string; d?: string }[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]?.alg, 'ES256');
    assert.equal(jwks.keys[0]?.d, undefined, 'no private part is published');
    // An OIDC-mode verifier (remote JWKS) accepts the dev issuer's tokens: any issuer works the same way.
    const remote = createTokenVerifier({ issuer: config.issuer, audience: 'votemesh', jwksUrl: config.jwks_uri });
    const { body } = await requestToken(gateway.url);
    assert.equal((await remote.verify(String(body['token'])))?.role, 'voter');
  });

  it('answers bad tokens on /graphql with 401 and the precise code', async () => {
    const expired = await gateway.devIssuer?.issue('voter:x', 'voter', -60);
    const result = await gateway.graphql({ query: '{ topProducts { name } }' }, bearer(expired?.token));
    assert.equal(result.status, 401);
    assert.equal(result.headers.get('www-authenticate'), 'Bearer');
    assert.equal(result.body.errors?.[0]?.extensions?.['code'], 'TOKEN_EXPIRED');
    const garbage = await gateway.graphql({ query: '{ topProducts { name } }' }, { authorization: 'Bearer x.y.z' });
    assert.equal(garbage.body.errors?.[0]?.extensions?.['code'], 'TOKEN_INVALID');
  });

  it('lets anonymous callers read public fields but not authenticated ones', async () => {
    const open = await gateway.graphql({ query: '{ topProducts(first: 1) { name } }' });
    assert.deepEqual(open.body, { data: { topProducts: [{ name: 'Table' }] } });
    const closed = await gateway.graphql({ query: '{ viewer { subject } }' });
    assert.equal(closed.status, 401);
    assert.deepEqual(closed.body.errors?.[0], { message: 'viewer requires a bearer token', extensions: { code: 'UNAUTHENTICATED', fields: ['viewer'] } });
  });
});

describe('admin tokens without ADMIN_BOOTSTRAP_SECRET', () => {
  it('are disabled with 403 and say why', async () => {
    const products = await startProductsSubgraph({ withAuth: true });
    const reviews = await startReviewsSubgraph();
    const gateway = await startTestGateway(composeTestSupergraph([products, reviews]));
    try {
      const { status, body } = await requestToken(gateway.url, { adminSecret: 'anything' });
      assert.equal(status, 403);
      assert.match(JSON.stringify(body), /Admin tokens are disabled: the gateway was started without ADMIN_BOOTSTRAP_SECRET/);
    } finally {
      await gateway.close();
      await products.close();
      await reviews.close();
    }
  });
});
