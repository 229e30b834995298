// Automatic persisted queries (APQ), which Apollo Server keeps on and the gateway keeps on with it:
// a client sends only the query's SHA-256, hears PERSISTED_QUERY_NOT_FOUND the first time, sends
// hash and query once, and the hash alone from then on (GET included, which CDNs can cache).
// A hash that is not the query's is the client's mistake: 400 BAD_REQUEST saying what to fix, not
// Apollo's codeless error, which read as INTERNAL (and was masked in production).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import { sseTransport } from './fixtures/subscriptions/test-clients.ts';
import { startForeignStack, type ForeignStack } from './helpers/foreign-stack.ts';
import type { GraphQLHttpResult, TestGateway } from './helpers/test-gateway.ts';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const persisted = (hash: string, version = 1) => ({ persistedQuery: { version, sha256Hash: hash } });

describe('automatic persisted queries', () => {
  let stack: ForeignStack;
  let gateway: TestGateway;

  before(async () => {
    stack = await startForeignStack(
      { RATE_LIMIT_PER_MINUTE: '0', NODE_ENV: 'production' },
      { subscriptions: (host) => createSubscriptionsFactory({ executeOperation: host.executeOperation })(host) },
    );
    ({ gateway } = stack);
  });
  after(() => stack?.close());

  const post = (body: Record<string, unknown>): Promise<GraphQLHttpResult> =>
    fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (response) => ({
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as GraphQLHttpResult['body'],
    }));

  it('asks for the query of an unknown hash, then serves the hash alone (POST and GET)', async () => {
    const query = '{ topProducts(first: 1) { upc } }';
    const hash = sha256(query);
    const unknown = await post({ extensions: persisted(hash) });
    assert.equal(unknown.status, 200, 'HTTP 200, as Apollo Server answers it: APQ clients retry on the error code');
    assert.deepEqual(unknown.body, { errors: [{ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }] });

    const registered = await post({ query, extensions: persisted(hash) });
    assert.equal(registered.status, 200);
    assert.deepEqual(registered.body, { data: { topProducts: [{ upc: '1' }] } });

    const known = await post({ extensions: persisted(hash) });
    assert.deepEqual(known.body, { data: { topProducts: [{ upc: '1' }] } });
    const search = new URLSearchParams({ extensions: JSON.stringify(persisted(hash)) });
    const get = await fetch(`${gateway.url}/graphql?${search}`, { headers: { 'apollo-require-preflight': 'true' } });
    assert.equal(get.status, 200);
    assert.deepEqual(await get.json(), { data: { topProducts: [{ upc: '1' }] } });
  });

  const mismatch = {
    message:
      'extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent: hash the exact query text (hex, lower case) or leave the extension out',
    extensions: { code: 'BAD_REQUEST' },
  };

  it('refuses a hash that is not the query’s 400 BAD_REQUEST, in production too, and does not log it as an error', async () => {
    const query = '{ topProducts(first: 2) { upc } }';
    const refused = await post({ query, extensions: persisted(sha256(`${query} `)) });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, { errors: [mismatch] });
    assert.equal(
      gateway.logs.some((line) => line['level'] === 50 && line['msg'] === 'provided sha does not match query'),
      false,
      'a client mistake is not logged at error level',
    );
    // Nothing was stored under the wrong hash.
    assert.equal((await post({ extensions: persisted(sha256(`${query} `)) })).body.errors?.[0]?.extensions?.['code'], 'PERSISTED_QUERY_NOT_FOUND');
  });

  it('refuses a persisted query version other than 1 400 BAD_REQUEST', async () => {
    const query = '{ topProducts(first: 1) { name } }';
    const refused = await post({ query, extensions: persisted(sha256(query), 2) });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body, {
      errors: [{ message: 'extensions.persistedQuery.version must be 1 (automatic persisted queries)', extensions: { code: 'BAD_REQUEST' } }],
    });
  });

  it('gives a query sent on a stream the same answer', async () => {
    const query = '{ topProducts(first: 3) { upc } }';
    const stream = await sseTransport.open({ http: `${gateway.url}/graphql`, ws: '' }, { query, extensions: persisted(sha256('another query')) });
    const [result] = await stream.waitForResults(1);
    await stream.waitForEnd();
    assert.deepEqual(result, { errors: [mismatch] });
  });
});
