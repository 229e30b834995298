// The subscription service plugged into the real startGateway: subscriptions over graphql-ws and
// SSE on the same /graphql endpoint as queries, which keep working; shutdown closes sockets 1001.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config.ts';
import { startGateway, type RunningGateway } from '../src/server.ts';
import { CloseCode } from '../src/subscriptions/index.ts';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import { composeSupergraph } from '../src/supergraph/compose.ts';
import {
  counterTypeDefs,
  roomsTypeDefs,
  startCounterSubgraph,
  startRoomsSubgraph,
  type CounterSubgraph,
  type RoomsSubgraph,
} from './fixtures/subscriptions/subgraphs.ts';
import { graphqlWsTransport, sseTransport, WsTestClient } from './fixtures/subscriptions/test-clients.ts';

const IDENTITY_SECRET = 'subscription-gateway-test-secret';

describe('subscriptions in startGateway', () => {
  let counter: CounterSubgraph;
  let rooms: RoomsSubgraph;
  let gateway: RunningGateway;
  const urls = () => ({ http: `${gateway.url}/graphql`, ws: `${gateway.url.replace(/^http/, 'ws')}/graphql` });

  before(async () => {
    const identityKey = identitySecretKey(IDENTITY_SECRET);
    counter = await startCounterSubgraph({ identityKey });
    rooms = await startRoomsSubgraph({ identityKey });
    const composed = composeSupergraph([
      { name: 'counter', url: counter.url, typeDefs: counterTypeDefs },
      { name: 'rooms', url: rooms.url, typeDefs: roomsTypeDefs },
    ]);
    if (!composed.ok) throw new Error(composed.problems.map((problem) => problem.message).join('; '));
    gateway = await startGateway({
      config: loadConfig({ PORT: '0', HOST: '127.0.0.1', AUTH_MODE: 'none', IDENTITY_SECRET, LOG_LEVEL: 'fatal', RATE_LIMIT_PER_MINUTE: '0' }),
      logger: createLogger({ service: 'gateway-test', level: 'fatal' }),
      registry: new Registry(),
      supergraphSdl: composed.supergraphSdl,
      subscriptions: createSubscriptionsFactory(),
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([counter.close(), rooms.close()]);
  });

  it('still answers queries on /graphql', async () => {
    const response = await fetch(urls().http, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ room(id: "q1") { id name } }' }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { data: { room: { id: 'q1', name: 'Room q1' } } });
  });

  for (const transport of [graphqlWsTransport, sseTransport]) {
    it(`serves a federated subscription over ${transport.name} on the same endpoint`, async () => {
      const room = `g-${transport.name}`;
      const stream = await transport.open(urls(), { query: 'subscription ($room: ID!) { ticks(room: $room) { n room { name } } }', variables: { room } });
      await waitFor(() => counter.active(room) === 1, { what: 'the upstream subscription' });
      counter.publish(room, { n: 1 });
      assert.deepEqual(await stream.waitForResults(1), [{ data: { ticks: { n: 1, room: { name: `Room ${room}` } } } }]);
      await stream.stop();
    });
  }

  it('closes subscription sockets with 1001 when the gateway closes', async () => {
    const client = await WsTestClient.connect(urls().ws);
    await client.init();
    client.subscribe('1', { query: 'subscription { ticks(room: "bye") { n } }' });
    await waitFor(() => counter.active('bye') === 1, { what: 'the subscription' });
    await gateway.close();
    assert.equal((await client.waitForClose()).code, CloseCode.GoingAway);
    await waitFor(() => counter.active('bye') === 0, { what: 'the upstream to close' });
  });
});
