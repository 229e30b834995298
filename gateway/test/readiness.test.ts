// /readyz answers whether THIS gateway can serve: one subgraph going down is reported (body and
// votemesh_dependency_up) but keeps the gateway in the Service, so queries to the healthy subgraphs
// go on working; at shutdown it answers "draining" while the listener still serves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startForeignStack, type ForeignStack } from './helpers/foreign-stack.ts';
import { composeTestSupergraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

interface ReadinessBody {
  readonly status: string;
  readonly checks: { name: string; ok: boolean; error?: string }[];
  readonly dependencies: { name: string; ok: boolean; error?: string }[];
}

async function readyz(gateway: TestGateway): Promise<{ status: number; body: ReadinessBody }> {
  const response = await fetch(`${gateway.url}/readyz`);
  return { status: response.status, body: (await response.json()) as ReadinessBody };
}

async function dependencyUp(gateway: TestGateway, dependency: string): Promise<string | undefined> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return new RegExp(`^votemesh_dependency_up\\{dependency="${dependency}",required="false",service="gateway-test"\\} (\\d)$`, 'm').exec(text)?.[1];
}

describe('gateway readiness', () => {
  let stack: ForeignStack;
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;

  before(async () => {
    stack = await startForeignStack({ AUTH_MODE: 'none', RATE_LIMIT_PER_MINUTE: '0' });
    ({ products, reviews, gateway } = stack);
  });
  // Closes reviews a second time when the first test stopped it; closing twice is harmless.
  after(() => stack?.close());

  it('stays ready with one subgraph stopped, reports it, and still answers queries to the healthy one', async () => {
    assert.equal((await readyz(gateway)).status, 200);
    assert.equal(await dependencyUp(gateway, 'subgraph:reviews'), '1');

    await reviews.close();

    // The report before the stop may be answered again for up to READINESS_REUSE_MS (common/src/readiness.ts).
    const { status, body } = await waitFor(
      async () => {
        const answer = await readyz(gateway);
        return answer.body.dependencies.some((dependency) => dependency.name === 'subgraph:reviews' && !dependency.ok) && answer;
      },
      { what: '/readyz to report reviews down' },
    );
    assert.equal(status, 200);
    assert.equal(body.status, 'ready');
    assert.deepEqual(
      body.checks.map((check) => [check.name, check.ok]),
      [['supergraph', true]],
    );
    assert.deepEqual(
      body.dependencies.map((dependency) => [dependency.name, dependency.ok]),
      [
        ['subgraph:products', true],
        ['subgraph:reviews', false],
      ],
    );
    assert.match(body.dependencies[1]?.error ?? '', /unreachable/);
    assert.equal(await dependencyUp(gateway, 'subgraph:reviews'), '0');
    assert.equal(await dependencyUp(gateway, 'subgraph:products'), '1');

    const healthy = await gateway.graphql({ query: '{ topProducts(first: 2) { upc name } }' });
    assert.deepEqual(healthy.body, {
      data: {
        topProducts: [
          { upc: '1', name: 'Table' },
          { upc: '2', name: 'Couch' },
        ],
      },
    });
    // The fields of the stopped subgraph fail naming it.
    const partial = await gateway.graphql({ query: '{ topProducts(first: 1) { name reviews { stars } } }' });
    assert.equal(partial.body.errors?.[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
    assert.equal(partial.body.errors?.[0]?.extensions?.['serviceName'], 'reviews');
  });

  it('answers "draining" at shutdown before the listener closes', async () => {
    const draining = await startTestGateway(composeTestSupergraph([products]), { AUTH_MODE: 'none', RATE_LIMIT_PER_MINUTE: '0', SHUTDOWN_DRAIN_MS: '3000' });
    assert.equal((await readyz(draining)).status, 200);
    const closed = draining.close();
    await waitFor(async () => (await readyz(draining)).status === 503, { what: '/readyz to answer draining' });
    assert.equal((await readyz(draining)).body.status, 'draining');
    // Still serving while endpoints update.
    const { body } = await draining.graphql({ query: '{ topProducts(first: 1) { name } }' });
    assert.deepEqual(body, { data: { topProducts: [{ name: 'Table' }] } });
    await closed;
    await assert.rejects(fetch(`${draining.url}/readyz`));
  });
});
