// Which transport answers a /graphql request. Clients such as urql list every type they read on
// every request, so a query or mutation from a client that also reads JSON gets the normal HTTP
// answer (status codes, the HTTP body limit, no stream slot); only subscriptions, and clients that
// read nothing but streams, take SSE or multipart. A mutation over GET is refused on every path.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { acceptedMedia } from '../src/http/accept.ts';
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
import { startTestGateway, type TestGateway } from './helpers/test-gateway.ts';
import { productsTypeDefs, startProductsSubgraph, TEST_IDENTITY_SECRET, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { parse } from 'graphql';

const URQL_ACCEPT = 'application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed';
const APOLLO_SUBSCRIPTION_ACCEPT = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json';
const QUERY = '{ room(id: "q") { name } }';
const MUTATION = 'mutation { setPrice(upc: "1", price: 1) { price } }';

describe('acceptedMedia', () => {
  const cases: [string | undefined, ReturnType<typeof acceptedMedia>][] = [
    [undefined, { json: true, stream: undefined }],
    ['*/*', { json: true, stream: undefined }],
    ['application/graphql-response+json, application/json;q=0.9', { json: true, stream: undefined }],
    ['text/event-stream', { json: false, stream: 'sse' }],
    [URQL_ACCEPT, { json: true, stream: 'sse' }],
    [APOLLO_SUBSCRIPTION_ACCEPT, { json: true, stream: 'multipart' }],
    ['multipart/mixed;subscriptionSpec="1.0"', { json: false, stream: 'multipart' }],
    ['multipart/mixed;deferSpec=20220824,application/json', { json: true, stream: undefined }],
    ['text/event-stream, application/json;q=0', { json: false, stream: 'sse' }],
    ['application/json, text/event-stream;q=0', { json: true, stream: undefined }],
  ];
  for (const [accept, expected] of cases) {
    it(`reads ${JSON.stringify(accept)}`, () => assert.deepEqual(acceptedMedia(accept), expected));
  }
});

describe('transport of a /graphql request', () => {
  let counter: CounterSubgraph;
  let rooms: RoomsSubgraph;
  let products: RunningSubgraph;
  let gateway: TestGateway;
  let graphqlUrl: string;

  before(async () => {
    const identityKey = identitySecretKey(TEST_IDENTITY_SECRET);
    counter = await startCounterSubgraph({ identityKey });
    rooms = await startRoomsSubgraph({ identityKey });
    products = await startProductsSubgraph({ withAuth: false });
    const composed = composeSupergraph([
      { name: 'counter', url: counter.url, typeDefs: counterTypeDefs },
      { name: 'rooms', url: rooms.url, typeDefs: roomsTypeDefs },
      { name: 'products', url: products.url, typeDefs: parse(productsTypeDefs(false)) },
    ]);
    if (!composed.ok) throw new Error(composed.problems.map((problem) => problem.message).join('; '));
    // One stream per client: a query that took a stream slot would be refused 429 below.
    gateway = await startTestGateway(
      composed.supergraphSdl,
      { RATE_LIMIT_PER_MINUTE: '0', AUTH_MODE: 'none', MAX_CONNECTIONS_PER_CLIENT: '1' },
      { subscriptions: (host) => createSubscriptionsFactory({ executeOperation: host.executeOperation })(host) },
    );
    graphqlUrl = `${gateway.url}/graphql`;
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([counter?.close(), rooms?.close(), products?.close()]);
  });

  const post = (accept: string, body: unknown, signal?: AbortSignal): Promise<Response> =>
    fetch(graphqlUrl, { method: 'POST', headers: { accept, 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });

  /** Opens a subscription stream holding the client's one stream slot; returns how to end it. */
  const holdStreamSlot = async (accept: string, room: string): Promise<{ response: Response; stop: () => Promise<void> }> => {
    const abort = new AbortController();
    const response = await post(accept, { query: `subscription { ticks(room: "${room}") { n } }` }, abort.signal);
    await waitFor(() => counter.active(room) === 1, { what: 'the upstream subscription' });
    return {
      response,
      stop: async () => {
        abort.abort();
        await waitFor(() => counter.active(room) === 0, { what: 'the stream to end' });
      },
    };
  };

  it('answers a query from a client that also reads JSON over HTTP, without a stream slot', async () => {
    const held = await holdStreamSlot(URQL_ACCEPT, 'slot');
    try {
      assert.match(held.response.headers.get('content-type') ?? '', /^text\/event-stream/, 'the subscription streams');
      for (let attempt = 0; attempt < 3; attempt++) {
        const response = await post(URQL_ACCEPT, { query: QUERY });
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^application\/(graphql-response\+)?json/);
        assert.deepEqual(await response.json(), { data: { room: { name: 'Room q' } } });
      }
    } finally {
      await held.stop();
    }
  });

  it('gives such a query the HTTP status codes and body limit', async () => {
    const invalid = await post(URQL_ACCEPT, { query: '{ room(id: "q") { nope } }' });
    assert.equal(invalid.status, 400);
    assert.equal(((await invalid.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    // Past the 64 KiB of a stream request, well within BODY_LIMIT_BYTES.
    const large = await post(URQL_ACCEPT, { query: `${QUERY} # ${'x'.repeat(100 * 1024)}` });
    assert.equal(large.status, 200);
    assert.deepEqual(await large.json(), { data: { room: { name: 'Room q' } } });
  });

  it('runs a mutation from such a client over HTTP', async () => {
    const response = await post(URQL_ACCEPT, { query: MUTATION });
    assert.match(response.headers.get('content-type') ?? '', /json/);
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    assert.equal(body.errors?.[0]?.extensions?.code, 'FORBIDDEN', 'the subgraph refused the anonymous caller');
  });

  it('streams a subscription from such a client (GET and POST), and from Apollo Client as multipart', async () => {
    const sse = await holdStreamSlot(URQL_ACCEPT, 'post-sse');
    await sse.stop();

    const abort = new AbortController();
    const query = new URLSearchParams({ query: 'subscription { ticks(room: "get-sse") { n } }' });
    const get = await fetch(`${graphqlUrl}?${query}`, { headers: { accept: URQL_ACCEPT }, signal: abort.signal });
    assert.match(get.headers.get('content-type') ?? '', /^text\/event-stream/);
    await waitFor(() => counter.active('get-sse') === 1, { what: 'the GET subscription' });
    abort.abort();
    await waitFor(() => counter.active('get-sse') === 0, { what: 'the GET stream to end' });

    const multipart = await holdStreamSlot(APOLLO_SUBSCRIPTION_ACCEPT, 'multipart');
    assert.match(multipart.response.headers.get('content-type') ?? '', /^multipart\/mixed;.*subscriptionSpec/);
    await multipart.stop();
  });

  it('gives a subscription from such a client the stream body limit (413 past 64 KiB)', async () => {
    const response = await post(URQL_ACCEPT, { query: `subscription { ticks(room: "big") { n } } # ${'x'.repeat(100 * 1024)}` });
    assert.equal(response.status, 413);
    const body = (await response.json()) as { errors: { message: string }[] };
    assert.equal(body.errors[0]?.message, 'The request body exceeds 65536 bytes');
    assert.equal(counter.active('big'), 0);
  });

  it('still streams queries for clients that read only event streams (graphql-sse)', async () => {
    const response = await post('text/event-stream', { query: QUERY });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(await response.text(), /event: next\ndata: \{"data":\{"room":\{"name":"Room q"\}\}\}[\s\S]*event: complete/);
  });

  for (const accept of ['text/event-stream', URQL_ACCEPT, 'application/json']) {
    it(`refuses a mutation over GET with 405 (Accept: ${accept})`, async () => {
      const calls = products.received.length;
      const response = await fetch(`${graphqlUrl}?${new URLSearchParams({ query: MUTATION })}`, {
        headers: { accept, 'apollo-require-preflight': 'true' },
      });
      assert.equal(response.status, 405);
      assert.equal(response.headers.get('allow'), 'POST');
      const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
      assert.deepEqual(body.errors[0], {
        message: 'GET requests only support query operations, not mutation operations',
        extensions: { code: 'BAD_REQUEST' },
      });
      assert.equal(products.received.length, calls, 'the mutation never reached the subgraph');
    });
  }

  // graphql-sse's PUT/DELETE reservations included: the gateway serves distinct connections only.
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    for (const accept of ['application/json', 'text/event-stream', URQL_ACCEPT]) {
      it(`refuses ${method} with 405 and the methods it allows (Accept: ${accept})`, async () => {
        const response = await fetch(graphqlUrl, { method, headers: { accept, 'content-type': 'application/json' }, body: JSON.stringify({ query: QUERY }) });
        assert.equal(response.status, 405);
        assert.equal(response.headers.get('allow'), 'GET, POST, OPTIONS');
        assert.deepEqual(await response.json(), {
          errors: [{ message: `Method ${method} is not allowed on /graphql: use POST, or GET (not for mutations)`, extensions: { code: 'BAD_REQUEST' } }],
        });
      });
    }
  }

  it('answers a plain OPTIONS (no CORS preflight) 204 with the methods it allows', async () => {
    const response = await fetch(graphqlUrl, { method: 'OPTIONS' });
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('allow'), 'GET, POST, OPTIONS');
  });
});
