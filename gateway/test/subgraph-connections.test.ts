// Connections between the gateway and its subgraphs: keep-alive connections the server closes
// (idle, or under a request) and subscription events, whose entity fetches go through the same
// transport as queries, deadline included. Real servers on port 0 throughout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { GraphQLError } from 'graphql';
import { Registry } from 'prom-client';
import { createIdentityForwarding } from '../src/auth/forward-identity.ts';
import { loadConfig } from '../src/config.ts';
import { startGateway } from '../src/server.ts';
import { createDataSources } from '../src/subscriptions/data-sources.ts';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import { composeSupergraph } from '../src/supergraph/compose.ts';
import { createSubgraphDataSources, SubgraphDataSource } from '../src/upstream/subgraph-data-source.ts';
import { counterTypeDefs, roomsTypeDefs, startCounterSubgraph } from './fixtures/subscriptions/subgraphs.ts';
import { graphqlWsTransport } from './fixtures/subscriptions/test-clients.ts';
import { fetchOf, json, startScriptedSubgraph, type ScriptedSubgraph } from './helpers/scripted-subgraph.ts';

const SECRET = 'subgraph-connections-test-secret';

describe('keep-alive connections the server closes', () => {
  it('a server that closes an idle keep-alive connection does not fail the next request', async () => {
    // No Keep-Alive hint (keepAliveTimeout 0), and the server drops each connection soon after answering.
    const closing = await startScriptedSubgraph((server) => {
      server.keepAliveTimeout = 0;
    });
    closing.answer = (_request, res, socket) => {
      res.on('finish', () => setImmediate(() => socket.destroy()));
      json(200, { data: { ok: true } })(_request, res, socket);
    };
    const pool = createSubgraphDataSources({ urls: new Map([['closing', closing.url]]), headersFor: createIdentityForwarding() });
    try {
      const closingSource = pool.byName['closing'] as SubgraphDataSource;
      assert.deepEqual(await closingSource.process(fetchOf('{ ok }', {})), { data: { ok: true } });
      await waitFor(() => closing.closedConnections() === 1, { what: 'the server to close the idle connection' });
      assert.deepEqual(await closingSource.process(fetchOf('{ ok }', {})), { data: { ok: true } });
      assert.equal(closing.received.length, 2);
    } finally {
      await pool.close();
      await closing.close();
    }
  });

  it("closes an idle connection before the server's Keep-Alive timeout says it would", async () => {
    // Keep-Alive: timeout=3 → idle for at most 3 s − 2 s on the client side; the server would wait 3 s.
    const hinting = await startScriptedSubgraph((server) => {
      server.keepAliveTimeout = 3000;
    });
    const pool = createSubgraphDataSources({ urls: new Map([['hinting', hinting.url]]), headersFor: createIdentityForwarding() });
    try {
      const started = Date.now();
      await (pool.byName['hinting'] as SubgraphDataSource).process(fetchOf('{ ok }', {}));
      await waitFor(() => hinting.closedConnections() === 1, { what: 'the idle connection to close', timeoutMs: 2500 });
      assert.ok(Date.now() - started < 2900, "closed by the client, before the server's timeout");
    } finally {
      await pool.close();
      await hinting.close();
    }
  });

  describe('closed under a request on a reused connection, before any answer', () => {
    let racing: ScriptedSubgraph;
    let pool: ReturnType<typeof createSubgraphDataSources>;
    before(async () => {
      racing = await startScriptedSubgraph();
      // One connection, so the next request reuses it and a retry has to open a new one.
      // The second request on any connection finds it closed: the server's idle close raced it.
      const seen = new Map<number, number>();
      racing.answer = (request, res, socket) => {
        const count = (seen.get(request.connection) ?? 0) + 1;
        seen.set(request.connection, count);
        if (count === 2) socket.destroy();
        else json(200, { data: { ok: true } })(request, res, socket);
      };
      pool = createSubgraphDataSources({ urls: new Map([['racing', racing.url]]), headersFor: createIdentityForwarding(), pool: { connections: 1 } });
    });
    after(async () => {
      await pool.close();
      await racing.close();
    });

    it('a query is sent once more, on a fresh connection', async () => {
      const racingSource = pool.byName['racing'] as SubgraphDataSource;
      await racingSource.process(fetchOf('{ ok }', {}));
      const before = racing.received.length;
      assert.deepEqual(await racingSource.process(fetchOf('query Q { ok }', {})), { data: { ok: true } });
      const attempts = racing.received.slice(before);
      assert.equal(attempts.length, 2);
      assert.notEqual(attempts[0]?.connection, attempts[1]?.connection);
    });

    it('a mutation is not: the subgraph may have run it', async () => {
      const racingSource = pool.byName['racing'] as SubgraphDataSource;
      await racingSource.process(fetchOf('{ ok }', {}));
      const before = racing.received.length;
      const error = await racingSource.process(fetchOf('mutation { ok }', {})).catch((thrown: unknown) => thrown);
      assert.ok(error instanceof GraphQLError);
      assert.equal(error.message, 'Subgraph "racing" could not be reached');
      assert.equal(racing.received.length - before, 1, 'sent once');
    });
  });
});

describe('subscription events use the same transport', () => {
  it('builds the query path data sources for the service that runs without a gateway', async () => {
    const own = createDataSources(new Map([['things', 'http://127.0.0.1:9/graphql']]));
    try {
      assert.ok(own.byName['things'] instanceof SubgraphDataSource);
    } finally {
      await own.close();
    }
  });

  it("an event's entity fetch to a hung subgraph ends at UPSTREAM_TIMEOUT_MS naming it", async () => {
    const counter = await startCounterSubgraph({ identityKey: identitySecretKey(SECRET) });
    const hung = await startScriptedSubgraph();
    hung.answer = () => {}; // accepts, never answers
    const composed = composeSupergraph([
      { name: 'counter', url: counter.url, typeDefs: counterTypeDefs },
      { name: 'rooms', url: hung.url, typeDefs: roomsTypeDefs },
    ]);
    if (!composed.ok) throw new Error(composed.problems.map((problem) => problem.message).join('; '));
    const gateway = await startGateway({
      config: loadConfig({ PORT: '0', HOST: '127.0.0.1', AUTH_MODE: 'none', IDENTITY_SECRET: SECRET, LOG_LEVEL: 'fatal', UPSTREAM_TIMEOUT_MS: '250' }),
      logger: createLogger({ service: 'gateway-test', level: 'fatal' }),
      registry: new Registry(),
      supergraphSdl: composed.supergraphSdl,
      subscriptions: createSubscriptionsFactory(),
    });
    try {
      const urls = { http: `${gateway.url}/graphql`, ws: `${gateway.url.replace(/^http/, 'ws')}/graphql` };
      const stream = await graphqlWsTransport.open(urls, { query: 'subscription { ticks(room: "r") { n room { name } } }' });
      await waitFor(() => counter.active('r') === 1, { what: 'the upstream subscription' });
      counter.publish('r', { n: 1 });
      const [result] = await stream.waitForResults(1);
      assert.deepEqual(result?.data, { ticks: { n: 1, room: { name: null } } });
      assert.equal(result?.errors?.[0]?.message, 'Subgraph "rooms" did not answer within 250 ms');
      assert.deepEqual(result?.errors?.[0]?.extensions, { code: 'UPSTREAM_UNAVAILABLE', serviceName: 'rooms' });
      await stream.stop();
    } finally {
      await gateway.close();
      await hung.close();
      await counter.close();
    }
  });
});
