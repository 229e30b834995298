// The gateway as a general Federation 2 gateway: a foreign supergraph (products + reviews,
// composed here) without any auth markers, run with AUTH_MODE=none.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@votemesh/common/config';
import { startForeignStack, startForeignSubgraphs, type ForeignStack, type ForeignSubgraphs } from './helpers/foreign-stack.ts';
import { composeTestSupergraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

describe('foreign supergraph (products + reviews, AUTH_MODE=none)', () => {
  let stack: ForeignStack;
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;

  before(async () => {
    stack = await startForeignStack({ AUTH_MODE: 'none', RATE_LIMIT_PER_MINUTE: '0' });
    ({ products, reviews, gateway } = stack);
  });
  after(() => stack?.close());

  it('answers a query that crosses both subgraphs through the query plan', async () => {
    const { status, body } = await gateway.graphql({ query: '{ topProducts(first: 2) { upc name reviews { body stars } } }' });
    assert.equal(status, 200);
    assert.deepEqual(body, {
      data: {
        topProducts: [
          { upc: '1', name: 'Table', reviews: [{ body: 'Love it!', stars: 5 }] },
          {
            upc: '2',
            name: 'Couch',
            reviews: [
              { body: 'Too expensive.', stars: 2 },
              { body: 'Comfy.', stars: 4 },
            ],
          },
        ],
      },
    });
    assert.ok(reviews.received.length > 0, 'the reviews subgraph was called for the entities');
  });

  it('serves GET queries too', async () => {
    const response = await fetch(`${gateway.url}/graphql?query=${encodeURIComponent('{ topProducts(first: 1) { name } }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { data: { topProducts: [{ name: 'Table' }] } });
  });

  it('refuses a bearer token when it runs without authentication', async () => {
    const { status, body } = await gateway.graphql({ query: '{ topProducts { name } }' }, { authorization: 'Bearer abc.def.ghi' });
    assert.equal(status, 401);
    assert.equal(body.errors?.[0]?.extensions?.['code'], 'TOKEN_INVALID');
    assert.match(body.errors?.[0]?.message ?? '', /AUTH_MODE=none/);
  });

  it('names the subgraph of a subgraph error', async () => {
    const { body } = await gateway.graphql({ query: '{ failing }' });
    assert.equal(body.errors?.[0]?.extensions?.['serviceName'], 'products');
    assert.deepEqual(body.errors?.[0]?.path, ['failing']);
  });

  it('echoes or assigns x-request-id and forwards it to the subgraph', async () => {
    const given = await gateway.graphql({ query: '{ receivedRequestId }' }, { 'x-request-id': 'req-123' });
    assert.equal(given.headers.get('x-request-id'), 'req-123');
    assert.equal(given.body.data?.['receivedRequestId'], 'req-123');
    const assigned = await gateway.graphql({ query: '{ receivedRequestId }' }, { 'x-request-id': 'spaces are not allowed' });
    const id = assigned.headers.get('x-request-id');
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(assigned.body.data?.['receivedRequestId'], id);
  });

  it('forwards the W3C traceparent to subgraphs', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { body } = await gateway.graphql({ query: '{ receivedTraceparent }' }, { traceparent });
    const forwarded = body.data?.['receivedTraceparent'];
    assert.equal(typeof forwarded, 'string');
    assert.match(String(forwarded), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, 'same trace id');
  });

  it('enforces the depth and alias limits with clear messages', async () => {
    const deep = await startTestGateway(composeTestSupergraph([products, reviews]), { AUTH_MODE: 'none', GRAPHQL_MAX_DEPTH: '2', GRAPHQL_MAX_ALIASES: '1' });
    try {
      const tooDeep = await deep.graphql({ query: 'query Deep { topProducts { reviews { body } } }' });
      assert.equal(tooDeep.body.errors?.[0]?.extensions?.['code'], 'GRAPHQL_VALIDATION_FAILED');
      assert.equal(tooDeep.body.errors?.[0]?.message, 'Operation "Deep" is 3 levels deep; the limit is 2');
      const aliases = await deep.graphql({ query: '{ a: topProducts { name } b: topProducts { n: name } }' });
      assert.equal(aliases.body.errors?.[0]?.message, 'The operation uses 3 aliases; the limit is 1');
      const introspection = await deep.graphql({ query: '{ __schema { types { fields { type { ofType { name } } } } } }' });
      assert.equal(introspection.body.errors, undefined, 'introspection does not count towards depth');
    } finally {
      await deep.close();
    }
  });

  it('refuses bodies over BODY_LIMIT_BYTES with 413', async () => {
    const small = await startTestGateway(composeTestSupergraph([products, reviews]), { AUTH_MODE: 'none', BODY_LIMIT_BYTES: '1024' });
    try {
      const { status, body } = await small.graphql({ query: `{ topProducts { name } } # ${'x'.repeat(2000)}` });
      assert.equal(status, 413);
      assert.match(body.errors?.[0]?.message ?? '', /exceeds 1024 bytes/);
    } finally {
      await small.close();
    }
  });

  it('reports readiness, each subgraph as a dependency, and counts operations in /metrics', async () => {
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200);
    const readiness = (await ready.json()) as { status: string; checks: { name: string; ok: boolean }[]; dependencies: { name: string; ok: boolean }[] };
    assert.equal(readiness.status, 'ready');
    assert.deepEqual(
      readiness.checks.map((check) => [check.name, check.ok]),
      [['supergraph', true]],
    );
    assert.deepEqual(
      readiness.dependencies.map((dependency) => [dependency.name, dependency.ok]),
      [
        ['subgraph:products', true],
        ['subgraph:reviews', true],
      ],
    );
    await gateway.graphql({ query: 'query Top { topProducts { name } }' });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(
      metrics,
      /votemesh_gateway_operations_total\{operation_type="query",operation_name="Top",client_name="",outcome="ok",service="gateway-test"\} [1-9]/,
    );
    assert.match(
      metrics,
      /votemesh_gateway_operation_duration_seconds_count\{service="gateway-test",operation_type="query",operation_name="Top",client_name=""\} [1-9]/,
    );
    assert.match(metrics, /votemesh_gateway_operations_total\{operation_type="unknown",operation_name="",client_name="",outcome="TOKEN_INVALID"/);
  });
});

describe('subgraph URLs, failures and production masking', () => {
  // No shared gateway: each test starts its own with the subgraph URLs it is about.
  let subgraphs: ForeignSubgraphs;
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;

  before(async () => {
    subgraphs = await startForeignSubgraphs();
    ({ products, reviews } = subgraphs);
  });
  after(() => subgraphs?.close());

  it('uses SUBGRAPH_URL_<NAME> over the URL in the supergraph', async () => {
    const supergraph = composeTestSupergraph([products, reviews], { products: 'http://127.0.0.1:9/graphql' });
    const gateway = await startTestGateway(supergraph, { AUTH_MODE: 'none', SUBGRAPH_URL_PRODUCTS: products.url });
    try {
      const { body } = await gateway.graphql({ query: '{ topProducts(first: 1) { name } }' });
      assert.deepEqual(body, { data: { topProducts: [{ name: 'Table' }] } });
    } finally {
      await gateway.close();
    }
  });

  it('refuses a SUBGRAPH_URL_<NAME> that names no subgraph, listing the ones there are', async () => {
    // A typo used to be ignored: traffic kept going to the URL the override was meant to replace.
    await assert.rejects(
      startTestGateway(composeTestSupergraph([products, reviews]), { AUTH_MODE: 'none', SUBGRAPH_URL_PRODUCT: products.url }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'SUBGRAPH_URL_PRODUCT' &&
        error.message.includes('products (SUBGRAPH_URL_PRODUCTS), reviews (SUBGRAPH_URL_REVIEWS)'),
    );
  });

  it('answers UPSTREAM_UNAVAILABLE naming an unreachable subgraph, and /readyz reports it but stays ready', async () => {
    const supergraph = composeTestSupergraph([products, reviews], { reviews: 'http://127.0.0.1:9/graphql' });
    const gateway = await startTestGateway(supergraph, { AUTH_MODE: 'none' });
    try {
      const { body } = await gateway.graphql({ query: '{ topProducts(first: 1) { name reviews { stars } } }' });
      const error = body.errors?.[0];
      assert.equal(error?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
      assert.equal(error?.extensions?.['serviceName'], 'reviews');
      assert.equal(error?.message, 'Subgraph "reviews" could not be reached');
      const ready = await fetch(`${gateway.url}/readyz`);
      assert.equal(ready.status, 200);
      const dependencies = ((await ready.json()) as { dependencies: { name: string; ok: boolean }[] }).dependencies;
      assert.deepEqual(
        dependencies.filter((dependency) => !dependency.ok).map((dependency) => dependency.name),
        ['subgraph:reviews'],
      );
    } finally {
      await gateway.close();
    }
  });

  it('times out a hung subgraph after UPSTREAM_TIMEOUT_MS', async () => {
    const { createServer } = await import('node:http');
    const hung = createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const address = hung.address();
    assert.ok(address && typeof address === 'object');
    const gateway = await startTestGateway(composeTestSupergraph([products, reviews]), {
      AUTH_MODE: 'none',
      UPSTREAM_TIMEOUT_MS: '200',
      SUBGRAPH_URL_REVIEWS: `http://127.0.0.1:${address.port}/graphql`,
    });
    try {
      const { body } = await gateway.graphql({ query: '{ topProducts(first: 1) { name reviews { stars } } }' });
      assert.equal(body.errors?.[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
      assert.equal(body.errors?.[0]?.message, 'Subgraph "reviews" did not answer within 200 ms');
    } finally {
      await gateway.close();
      hung.closeAllConnections();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('hides internal error messages in production and keeps them in the logs', async () => {
    const gateway = await startTestGateway(composeTestSupergraph([products, reviews]), { AUTH_MODE: 'none', NODE_ENV: 'production' });
    try {
      const { body } = await gateway.graphql({ query: '{ failing }' });
      assert.deepEqual(body.errors?.[0], { message: 'Internal error', path: ['failing'], extensions: { code: 'INTERNAL', serviceName: 'products' } });
      assert.ok(
        gateway.logs.some((line) => String(line['msg']).includes('hunter2')),
        'the log keeps the original message',
      );
    } finally {
      await gateway.close();
    }
  });
});
