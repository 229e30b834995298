// Queries and mutations that arrive on a subscription transport (graphql-ws `subscribe`, SSE,
// multipart) pass the same admission as HTTP: AUTH_REQUIRED_FOR_GRAPH and RATE_LIMIT_PER_MINUTE,
// per client, with the same error codes. Before, only the HTTP adapter checked either.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, requestToken, type TestGateway, withinOneRateWindow } from './helpers/test-gateway.ts';
import { composeTestSupergraph, startProductsSubgraph, startReviewsSubgraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import type { SubscriptionHost } from '../src/server.ts';
import { WsTestClient, sseTransport, type ResultPayload } from './fixtures/subscriptions/test-clients.ts';

const QUERY = { query: '{ topProducts(first: 1) { name } }' };

async function startGuardedGateway(
  subgraphs: readonly RunningSubgraph[],
  env: Record<string, string>,
): Promise<{ gateway: TestGateway; host: () => SubscriptionHost }> {
  let captured: SubscriptionHost | undefined;
  const gateway = await startTestGateway(composeTestSupergraph([...subgraphs]), env, {
    subscriptions: (host) => {
      captured = host;
      return createSubscriptionsFactory({ executeOperation: host.executeOperation })(host);
    },
  });
  return {
    gateway,
    host: () => {
      if (!captured) throw new Error('the subscriptions factory was not called');
      return captured;
    },
  };
}

/** One query over SSE; the single result (or the refusal body when the stream was not opened). */
async function sseQuery(gateway: TestGateway, token?: string): Promise<ResultPayload> {
  const stream = await sseTransport.open({ http: `${gateway.url}/graphql`, ws: '' }, QUERY, token);
  const [result] = await stream.waitForResults(1);
  await stream.waitForEnd();
  assert.ok(result);
  return result;
}

const codesOf = (result: ResultPayload | undefined): unknown[] => (result?.errors ?? []).map((error) => error.extensions?.['code']);

describe('operations on subscription transports', () => {
  let subgraphs: RunningSubgraph[];
  before(async () => {
    subgraphs = [await startProductsSubgraph({ withAuth: true }), await startReviewsSubgraph()];
  });
  after(async () => {
    for (const subgraph of subgraphs) await subgraph.close();
  });

  describe('rate limit (RATE_LIMIT_PER_MINUTE=2)', () => {
    it('counts every SSE query as a request and refuses the third with RATE_LIMITED', async () => {
      const { gateway } = await startGuardedGateway(subgraphs, { RATE_LIMIT_PER_MINUTE: '2' });
      try {
        await withinOneRateWindow();
        assert.deepEqual((await sseQuery(gateway)).data, { topProducts: [{ name: 'Table' }] });
        assert.deepEqual(codesOf(await sseQuery(gateway)), []);
        const third = await sseQuery(gateway);
        assert.deepEqual(codesOf(third), ['RATE_LIMITED']);
        assert.equal(third.data, undefined);
        // The same bucket as HTTP: this client is out of requests there too.
        assert.equal((await gateway.graphql(QUERY)).status, 429);
      } finally {
        await gateway.close();
      }
    });

    it('counts every graphql-ws query as a request, per subject for a verified caller', async () => {
      const { gateway } = await startGuardedGateway(subgraphs, { RATE_LIMIT_PER_MINUTE: '2' });
      try {
        await withinOneRateWindow();
        const token = (await requestToken(gateway.url)).body['token'];
        const client = await WsTestClient.connect(`${gateway.url.replace('http', 'ws')}/graphql`);
        await client.init({ authorization: `Bearer ${String(token)}` });
        for (const id of ['1', '2', '3']) {
          client.subscribe(id, QUERY);
          await client.waitFor((message) => message.id === id && (message.type === 'complete' || message.type === 'error'), `the end of ${id}`);
        }
        assert.equal(client.of('1', 'next').length, 1);
        assert.equal(client.of('2', 'next').length, 1);
        // A refused query is a result with errors (what HTTP's 429 body holds), then complete.
        assert.deepEqual(codesOf(client.of('3', 'next')[0]?.payload as ResultPayload), ['RATE_LIMITED']);
        client.socket.close();
        // Anonymous HTTP from the same address is another bucket (per subject, like HTTP).
        assert.equal((await gateway.graphql(QUERY)).status, 200);
      } finally {
        await gateway.close();
      }
    });
  });

  describe('AUTH_REQUIRED_FOR_GRAPH=true', () => {
    let gateway: TestGateway;
    let host: () => SubscriptionHost;
    before(async () => {
      ({ gateway, host } = await startGuardedGateway(subgraphs, { AUTH_REQUIRED_FOR_GRAPH: 'true', RATE_LIMIT_PER_MINUTE: '0' }));
    });
    after(() => gateway.close());

    it('refuses an anonymous SSE request with UNAUTHENTICATED, like HTTP', async () => {
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(QUERY),
      });
      assert.equal(response.status, 401);
      const body = (await response.json()) as ResultPayload;
      assert.deepEqual(codesOf(body), ['UNAUTHENTICATED']);
      assert.equal((await gateway.graphql(QUERY)).status, 401);
    });

    it('refuses an anonymous graphql-ws connection at connection_init (4403)', async () => {
      const client = await WsTestClient.connect(`${gateway.url.replace('http', 'ws')}/graphql`);
      client.send({ type: 'connection_init' });
      const closed = await client.waitForClose();
      assert.equal(closed.code, 4403);
      assert.match(closed.reason, /UNAUTHENTICATED/);
    });

    it('refuses an anonymous operation in executeOperation itself (any transport)', async () => {
      const result = await host().executeOperation(QUERY, undefined, '127.0.0.1');
      assert.equal(result.data, undefined);
      assert.deepEqual(
        result.errors?.map((error) => error.extensions['code']),
        ['UNAUTHENTICATED'],
      );
    });

    it('serves a verified caller over SSE and graphql-ws', async () => {
      const token = String((await requestToken(gateway.url)).body['token']);
      assert.deepEqual((await sseQuery(gateway, token)).data, { topProducts: [{ name: 'Table' }] });
      const client = await WsTestClient.connect(`${gateway.url.replace('http', 'ws')}/graphql`);
      await client.init({ authorization: `Bearer ${token}` });
      client.subscribe('q', QUERY);
      const next = await client.waitFor((message) => message.id === 'q' && message.type === 'next', 'the query result');
      assert.deepEqual(next.payload, { data: { topProducts: [{ name: 'Table' }] } });
      client.socket.close();
    });
  });
});
