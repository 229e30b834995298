// Client mistakes in a /graphql request are 4xx with a GraphQL error saying what to fix, the same
// over HTTP as over the subscription transports, never a 500 INTERNAL with a stack trace:
// an unknown operationName, several operations and none named, a subscription as a plain JSON POST
// (whatever its document), and what graphql-js accepts but the query planner refuses (introspection
// of `isOneOf`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildClientSchema, getIntrospectionQuery, type IntrospectionQuery } from 'graphql';
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { createSubscriptionsFactory } from '../src/subscriptions/transport.ts';
import { composeSupergraph } from '../src/supergraph/compose.ts';
import { sseTransport } from './fixtures/subscriptions/test-clients.ts';
import {
  counterTypeDefs,
  roomsTypeDefs,
  startCounterSubgraph,
  startRoomsSubgraph,
  type CounterSubgraph,
  type RoomsSubgraph,
} from './fixtures/subscriptions/subgraphs.ts';
import { startTestGateway, type GraphQLHttpResult, type TestGateway } from './helpers/test-gateway.ts';
import { TEST_IDENTITY_SECRET } from './helpers/test-subgraphs.ts';

describe('operations HTTP cannot run', () => {
  let counter: CounterSubgraph;
  let rooms: RoomsSubgraph;
  let gateway: TestGateway;

  before(async () => {
    const identityKey = identitySecretKey(TEST_IDENTITY_SECRET);
    counter = await startCounterSubgraph({ identityKey });
    rooms = await startRoomsSubgraph({ identityKey });
    const composed = composeSupergraph([
      { name: 'counter', url: counter.url, typeDefs: counterTypeDefs },
      { name: 'rooms', url: rooms.url, typeDefs: roomsTypeDefs },
    ]);
    if (!composed.ok) throw new Error(composed.problems.map((problem) => problem.message).join('; '));
    gateway = await startTestGateway(
      composed.supergraphSdl,
      { RATE_LIMIT_PER_MINUTE: '0' },
      { subscriptions: (host) => createSubscriptionsFactory({ executeOperation: host.executeOperation })(host) },
    );
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([counter?.close(), rooms?.close()]);
  });

  const only = (result: GraphQLHttpResult) => {
    assert.equal(result.body.errors?.length, 1, JSON.stringify(result.body));
    const [error] = result.body.errors ?? [];
    assert.equal(error?.extensions?.['stacktrace'], undefined, 'a client mistake has no stack trace');
    return { status: result.status, code: error?.extensions?.['code'], message: error?.message ?? '' };
  };

  const sameOverSse = async (operation: { query: string; operationName?: string }, expected: { code: unknown; message: string }): Promise<void> => {
    const stream = await sseTransport.open({ http: `${gateway.url}/graphql`, ws: '' }, operation);
    const [result] = await stream.waitForResults(1);
    await stream.waitForEnd();
    assert.deepEqual({ code: result?.errors?.[0]?.extensions?.['code'], message: result?.errors?.[0]?.message }, expected);
  };

  const cases = [
    {
      name: 'an operationName the document does not have',
      operation: { query: '{ __typename }', operationName: 'Nope' },
      message: 'The document has no operation named "Nope" (it has (anonymous)); fix operationName',
    },
    {
      name: 'several operations and no operationName',
      operation: { query: 'query A { __typename } query B { __typename }' },
      message: 'The document has 2 operations (A, B); send operationName to say which one to run',
    },
  ];
  for (const { name, operation, message } of cases) {
    it(`answers ${name} 400 GRAPHQL_VALIDATION_FAILED, in the words SSE uses`, async () => {
      const refused = only(await gateway.graphql(operation));
      assert.deepEqual(refused, { status: 400, code: 'GRAPHQL_VALIDATION_FAILED', message });
      await sameOverSse(operation, { code: 'GRAPHQL_VALIDATION_FAILED', message });
    });
  }

  // Whatever the subscription document: graphql-js 16's validation, which Apollo Server runs first,
  // threw on a root field under @include with a variable, and the client got 500 INTERNAL.
  const subscriptions: { name: string; query: string; variables?: Record<string, unknown> }[] = [
    { name: 'a subscription', query: 'subscription { ticks(room: "r") { n } }' },
    {
      name: 'one whose root field is under @include(if: $x), x true',
      query: 'subscription($x: Boolean!) { ticks(room: "r") @include(if: $x) { n } }',
      variables: { x: true },
    },
    { name: 'the same with x false', query: 'subscription($x: Boolean!) { ticks(room: "r") @include(if: $x) { n } }', variables: { x: false } },
    { name: 'one whose root field is under @skip(if: true)', query: 'subscription { ticks(room: "r") @skip(if: true) { n } }' },
    { name: 'one whose root field is in a spread fragment', query: 'subscription { ...Root } fragment Root on Subscription { ticks(room: "r") { n } }' },
    { name: 'one selecting only __typename', query: 'subscription { __typename }' },
  ];
  for (const { name, query, variables } of subscriptions) {
    it(`answers ${name}, sent as a plain JSON POST, 400 naming the transports that stream it`, async () => {
      const refused = only(await gateway.graphql({ query, ...(variables ? { variables } : {}) }, { accept: 'application/json' }));
      assert.equal(refused.status, 400);
      assert.equal(refused.code, 'BAD_REQUEST');
      assert.match(refused.message, /^A subscription cannot run as a plain HTTP request .*graphql-ws .*SSE \(Accept: text\/event-stream\).*multipart/);
      assert.equal(counter.active('r'), 0);
    });
  }

  it('answers such a subscription over GET the same', async () => {
    const search = new URLSearchParams({ query: subscriptions[1]?.query ?? '', variables: JSON.stringify({ x: true }) });
    const response = await fetch(`${gateway.url}/graphql?${search}`, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true' } });
    const refused = only({ status: response.status, headers: response.headers, body: (await response.json()) as GraphQLHttpResult['body'] });
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'BAD_REQUEST');
    assert.match(refused.message, /^A subscription cannot run as a plain HTTP request/);
  });

  it('answers the introspection query with isOneOf (getIntrospectionQuery({ oneOf: true }))', async () => {
    const { status, body } = await gateway.graphql({ query: getIntrospectionQuery({ oneOf: true }) });
    assert.equal(status, 200, JSON.stringify(body.errors));
    assert.equal(body.errors, undefined);
    const schema = buildClientSchema(body.data as unknown as IntrospectionQuery);
    assert.ok(schema.getQueryType()?.getFields()['room'], 'the API schema');
    assert.equal(schema.getType('join__Graph'), undefined, 'not the supergraph schema');
  });

  it('answers an operation mixing isOneOf with graph fields 400, not 500', async () => {
    const refused = only(await gateway.graphql({ query: '{ __type(name: "Query") { isOneOf } room(id: "r") { id } }' }));
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(refused.message, /^The gateway cannot plan this operation: Cannot query field "isOneOf" on type "__Type"/);
  });

  it('still runs introspection and graph fields together, and named operations', async () => {
    const mixed = await gateway.graphql({ query: '{ __type(name: "Room") { name } room(id: "r") { name } }' });
    assert.deepEqual(mixed.body, { data: { __type: { name: 'Room' }, room: { name: 'Room r' } } });
    const named = await gateway.graphql({ query: 'query A { __typename } query B { room(id: "b") { id } }', operationName: 'B' });
    assert.deepEqual(named.body, { data: { room: { id: 'b' } } });
  });
});
