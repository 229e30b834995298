// CORS on the routes a web app served from another origin calls: /graphql over every transport,
// POST /auth/token and the JWKS. Preflights answer 204 with what a browser client sends and the
// methods the route answers (no more); with CORS_ORIGINS listing origins, an unlisted origin gets
// no allow header and a refused preflight.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import { startForeignSubgraphs, type ForeignSubgraphs } from './helpers/foreign-stack.ts';
import { startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

const APP = 'https://vote.example.com';
const QUERY = JSON.stringify({ query: '{ topProducts(first: 1) { name } }' });

function preflight(url: string, origin: string, method: string, headers = 'content-type, authorization'): Promise<Response> {
  return fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });
}

const listOf = (value: string | null): string[] => (value ?? '').split(',').map((item) => item.trim().toLowerCase());

describe('CORS', () => {
  // One pair of subgraphs; each describe below starts its own gateway with the CORS setting it is about.
  let subgraphs: ForeignSubgraphs;
  before(async () => {
    subgraphs = await startForeignSubgraphs();
  });
  after(() => subgraphs?.close());

  const start = (env: Record<string, string> = {}): Promise<TestGateway> =>
    startTestGateway(
      subgraphs.supergraphSdl,
      { RATE_LIMIT_PER_MINUTE: '0', ...env },
      {
        subscriptions: (host) => createSubscriptionsFactory({ executeOperation: host.executeOperation })(host),
      },
    );

  describe('by default (CORS_ORIGINS=*)', () => {
    let gateway: TestGateway;
    before(async () => {
      gateway = await start();
    });
    after(() => gateway.close());

    it('answers a /graphql preflight 204 with the methods, the headers browser clients send and a max-age', async () => {
      const response = await preflight(`${gateway.url}/graphql`, APP, 'POST', 'content-type, authorization, apollo-require-preflight');
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
      assert.equal(response.headers.get('access-control-allow-credentials'), null, 'bearer tokens, never cookies');
      assert.deepEqual(listOf(response.headers.get('access-control-allow-methods')), ['get', 'post', 'options'], 'what /graphql answers');
      const allowed = listOf(response.headers.get('access-control-allow-headers'));
      for (const header of [
        'content-type',
        'authorization',
        'apollo-require-preflight',
        'x-apollo-operation-name',
        'x-graphql-event-stream-token',
        'traceparent',
        'baggage',
        'accept',
      ]) {
        assert.ok(allowed.includes(header), `allows ${header}`);
      }
      assert.equal(response.headers.get('access-control-max-age'), '7200');
    });

    it('lets a page read a POST answer and the headers it needs', async () => {
      const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: QUERY });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
      const exposed = listOf(response.headers.get('access-control-expose-headers'));
      for (const header of ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining']) assert.ok(exposed.includes(header), `exposes ${header}`);
    });

    it('covers GET queries (with the CSRF-preventing header), SSE streams and graphql-sse reservations', async () => {
      const get = await fetch(`${gateway.url}/graphql?query=${encodeURIComponent('{ topProducts(first: 1) { name } }')}`, {
        headers: { origin: APP, 'apollo-require-preflight': 'true' },
      });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('access-control-allow-origin'), '*');

      const stream = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json', accept: 'text/event-stream' },
        body: QUERY,
      });
      assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(stream.headers.get('access-control-allow-origin'), '*');
      await stream.text();

      const reservation = await fetch(`${gateway.url}/graphql`, { method: 'PUT', headers: { origin: APP } });
      assert.equal(reservation.headers.get('access-control-allow-origin'), '*', 'even a refusal is readable');
      await reservation.text();
    });

    it('allows no method /graphql refuses: a graphql-sse PUT/DELETE preflight lists neither', async () => {
      for (const method of ['PUT', 'DELETE']) {
        const response = await preflight(`${gateway.url}/graphql`, APP, method);
        const allowed = listOf(response.headers.get('access-control-allow-methods'));
        assert.ok(!allowed.includes(method.toLowerCase()), `${method} is not allowed (got ${allowed.join(', ')})`);
        await response.text();
      }
      const refused = await fetch(`${gateway.url}/graphql`, { method: 'DELETE', headers: { origin: APP } });
      assert.equal(refused.status, 405, 'what a page allowed to send DELETE would only have got');
      assert.equal(refused.headers.get('allow'), 'GET, POST, OPTIONS', 'the Allow and the CORS methods are one list');
      await refused.text();
    });

    it('covers POST /auth/token and the JWKS', async () => {
      const tokenPreflight = await preflight(`${gateway.url}/auth/token`, APP, 'POST', 'content-type');
      assert.equal(tokenPreflight.status, 204);
      assert.deepEqual(listOf(tokenPreflight.headers.get('access-control-allow-methods')), ['post']);
      const token = await fetch(`${gateway.url}/auth/token`, { method: 'POST', headers: { origin: APP } });
      assert.equal(token.status, 200);
      assert.equal(token.headers.get('access-control-allow-origin'), '*');
      await token.json();
      const jwks = await fetch(`${gateway.url}/.well-known/jwks.json`, { headers: { origin: APP } });
      assert.equal(jwks.headers.get('access-control-allow-origin'), '*');
      await jwks.json();
    });

    it('leaves the probes alone', async () => {
      const health = await fetch(`${gateway.url}/healthz`, { headers: { origin: APP } });
      assert.equal(health.headers.get('access-control-allow-origin'), null);
      await health.json();
    });
  });

  describe(`with CORS_ORIGINS=${APP},http://localhost:5173`, () => {
    let gateway: TestGateway;
    before(async () => {
      gateway = await start({ CORS_ORIGINS: `${APP}, http://localhost:5173` });
    });
    after(() => gateway.close());

    it('allows a listed origin by name, varying on Origin', async () => {
      const response = await preflight(`${gateway.url}/graphql`, 'http://localhost:5173', 'POST');
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:5173');
      assert.match(response.headers.get('vary') ?? '', /origin/i);
      const post = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: QUERY });
      assert.equal(post.headers.get('access-control-allow-origin'), APP);
      assert.match(post.headers.get('vary') ?? '', /origin/i);
      await post.json();
    });

    it('gives an unlisted origin no allow header and refuses its preflight, saying why', async () => {
      const refused = await preflight(`${gateway.url}/graphql`, 'https://evil.example.net', 'POST');
      assert.equal(refused.status, 403);
      assert.equal(refused.headers.get('access-control-allow-origin'), null);
      const body = (await refused.json()) as { errors: { message: string; extensions: { code: string } }[] };
      assert.equal(body.errors[0]?.extensions.code, 'FORBIDDEN');
      assert.match(body.errors[0]?.message ?? '', /https:\/\/evil\.example\.net .*CORS_ORIGINS/);
      const post = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { origin: 'https://evil.example.net', 'content-type': 'application/json' },
        body: QUERY,
      });
      assert.equal(post.headers.get('access-control-allow-origin'), null);
      await post.json();
    });
  });

  describe('CORS_ORIGINS validation', () => {
    it('takes * or exact origins', () => {
      assert.equal(loadConfig({}).corsOrigins, '*');
      assert.equal(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins, '*');
      assert.deepEqual(loadConfig({ CORS_ORIGINS: 'https://a.example.com,http://127.0.0.1:5173' }).corsOrigins, [
        'https://a.example.com',
        'http://127.0.0.1:5173',
      ]);
    });

    for (const [value, problem] of [
      ['vote.example.com', /got "vote\.example\.com"/],
      ['https://vote.example.com/', /the origin of that URL is https:\/\/vote\.example\.com\)/],
      ['https://vote.example.com/app', /got "https:\/\/vote\.example\.com\/app"/],
      ['ftp://vote.example.com', /got "ftp:\/\/vote\.example\.com"/],
      ['*,https://vote.example.com', /\* alone/],
      [',', /must be \* or comma-separated origins/],
    ] as const) {
      it(`refuses ${JSON.stringify(value)} naming CORS_ORIGINS`, () => {
        assert.throws(
          () => loadConfig({ CORS_ORIGINS: value }),
          (error: unknown) => error instanceof ConfigError && error.variable === 'CORS_ORIGINS' && problem.test(error.message),
        );
      });
    }
  });
});
