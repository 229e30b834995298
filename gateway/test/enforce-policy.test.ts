// The auth policy read from the supergraph and enforced before execution: unit cases over the
// votemesh supergraph (fixture SDL), then the HTTP statuses through a running gateway.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloGateway } from '@apollo/gateway';
import { Kind, parse, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { VotemeshError } from '@votemesh/common/errors';
import { enforcePolicy } from '../src/auth/enforce-policy.ts';
import type { VerifiedIdentity } from '../src/auth/verify-token.ts';
import { loadSupergraph, type LoadedSupergraph } from '../src/supergraph/load-supergraph.ts';
import { fixtureSupergraphSdl } from './helpers/fixture-supergraph.ts';
import { startProductsSubgraph, startReviewsSubgraph, composeTestSupergraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { bearer, requestToken, startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

const voter: VerifiedIdentity = { subject: 'voter:1', role: 'voter', scopes: [], expiresAt: undefined };
const admin: VerifiedIdentity = { subject: 'admin:1', role: 'admin', scopes: [], expiresAt: undefined };
const scopedAdmin: VerifiedIdentity = { subject: 'ops:1', role: 'voter', scopes: ['admin'], expiresAt: undefined };

describe('enforcePolicy over the votemesh supergraph', () => {
  let supergraph: LoadedSupergraph;
  let schema: GraphQLSchema;
  let gateway: ApolloGateway;

  before(async () => {
    supergraph = loadSupergraph(fixtureSupergraphSdl());
    gateway = new ApolloGateway({ supergraphSdl: supergraph.executableSdl });
    schema = (await gateway.load()).schema;
  });
  after(async () => {
    await gateway?.stop();
  });

  function check(source: string, identity: VerifiedIdentity | undefined, variables: Record<string, unknown> = {}): void {
    const document = parse(source);
    const operation = document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
    assert.ok(operation);
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    enforcePolicy({ schema, operation, fragments, variables, policy: supergraph.policy, identity });
  }

  function refused(source: string, identity: VerifiedIdentity | undefined, code: string, message: string, variables: Record<string, unknown> = {}): void {
    assert.throws(
      () => check(source, identity, variables),
      (error: unknown) => error instanceof VotemeshError && error.code === code && error.message === message,
      `expected ${code}: ${message}`,
    );
  }

  it('reads the markers of the supergraph into the policy', () => {
    const { policy } = supergraph;
    assert.equal(policy.getFieldAuth('Query', 'polls'), 'public');
    assert.equal(policy.getFieldAuth('Mutation', 'castVote'), 'authenticated');
    assert.equal(policy.getFieldAuth('Poll', 'myVote'), 'authenticated');
    assert.deepEqual(policy.getFieldAuth('Mutation', 'createPoll'), { scopes: [['admin']] });
    assert.deepEqual(policy.getFieldAuth('Poll', 'auditTrail'), { scopes: [['admin']] });
    assert.deepEqual(policy.getFieldAuth('Subscription', 'auditEvents'), { scopes: [['admin']] });
    assert.equal(policy.getFieldAuth('Subscription', 'pollResults'), 'public');
    assert.equal(policy.getFieldAuth('Subscription', 'voteReceipt'), 'authenticated');
  });

  it('lets anyone run public operations', () => {
    check('{ polls { edges { node { id question results { totalVotes } } } } }', undefined);
  });

  it('refuses an anonymous castVote naming the field', () => {
    refused('mutation { castVote(pollId: "p", optionId: "o") { id } }', undefined, 'UNAUTHENTICATED', 'castVote requires a bearer token');
    check('mutation { castVote(pollId: "p", optionId: "o") { id } }', voter);
  });

  it('follows named and inline fragments to nested fields', () => {
    const query = 'query { poll(id: "p") { ...P } } fragment P on Poll { id ... on Poll { myVote { id } } }';
    refused(query, undefined, 'UNAUTHENTICATED', 'Poll.myVote requires a bearer token');
    check(query, voter);
  });

  it('lists every refused field at once', () => {
    refused(
      '{ voteReceipt(id: "r") { id } poll(id: "p") { myVote { id } } }',
      undefined,
      'UNAUTHENTICATED',
      'voteReceipt and Poll.myVote require a bearer token',
    );
  });

  it('refuses a voter an admin field, naming it and the role', () => {
    refused(
      'mutation { createPoll(input: { question: "q", options: ["a", "b"] }) { id } }',
      voter,
      'FORBIDDEN',
      'createPoll requires the admin scope; your role is voter',
    );
    refused('{ poll(id: "p") { auditTrail { edges { cursor } } } }', voter, 'FORBIDDEN', 'Poll.auditTrail requires the admin scope; your role is voter');
  });

  it('reports missing authentication before missing scopes', () => {
    refused('{ verifyAuditLog { ok } }', undefined, 'UNAUTHENTICATED', 'verifyAuditLog requires a bearer token');
  });

  it('accepts the admin role and an admin scope claim alike', () => {
    check('{ verifyAuditLog { ok } auditLog { edges { cursor } } }', admin);
    check('{ verifyAuditLog { ok } }', scopedAdmin);
  });

  it('does not hold fields switched off by @skip/@include against the caller', () => {
    const query = 'query ($withVote: Boolean!) { poll(id: "p") { id myVote @include(if: $withVote) { id } } }';
    check(query, undefined, { withVote: false });
    refused(query, undefined, 'UNAUTHENTICATED', 'Poll.myVote requires a bearer token', { withVote: true });
  });

  it('applies variable defaults in @skip/@include when the variable is not sent', () => {
    // What Apollo Client generates: `$v: Boolean = false`, the variable left out of the request.
    const query = 'query ($withVote: Boolean = false) { poll(id: "p") { id myVote @include(if: $withVote) { id } } }';
    check(query, undefined, {});
    refused(query, undefined, 'UNAUTHENTICATED', 'Poll.myVote requires a bearer token', { withVote: true });
    refused(
      'query ($hide: Boolean = true) { poll(id: "p") { myVote @skip(if: $hide) { id } } }',
      undefined,
      'UNAUTHENTICATED',
      'Poll.myVote requires a bearer token',
      {
        hide: false,
      },
    );
  });

  it('leaves variables that do not coerce to execution (no throw here)', () => {
    check('query ($withVote: Boolean!) { poll(id: "p") { myVote @include(if: $withVote) { id } } }', undefined, { withVote: 'yes' });
  });
});

describe('policy through HTTP', () => {
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;

  before(async () => {
    products = await startProductsSubgraph({ withAuth: true });
    reviews = await startReviewsSubgraph();
    gateway = await startTestGateway(composeTestSupergraph([products, reviews]), { ADMIN_BOOTSTRAP_SECRET: 'test-admin-secret-42' });
  });
  after(async () => {
    await gateway?.close();
    await products?.close();
    await reviews?.close();
  });

  it('answers 403 FORBIDDEN to a voter and runs the mutation for an admin', async () => {
    const mutation = { query: 'mutation { setPrice(upc: "1", price: 5) { upc price } }' };
    const voterToken = (await requestToken(gateway.url)).body['token'];
    const refusedCall = await gateway.graphql(mutation, bearer(voterToken));
    assert.equal(refusedCall.status, 403);
    assert.equal(refusedCall.body.errors?.[0]?.message, 'setPrice requires the admin scope; your role is voter');
    const adminToken = (await requestToken(gateway.url, { adminSecret: 'test-admin-secret-42' })).body['token'];
    const allowed = await gateway.graphql(mutation, bearer(adminToken));
    assert.deepEqual(allowed.body, { data: { setPrice: { upc: '1', price: 5 } } });
  });

  it('runs an operation whose @include variable is left to its default (not a 500)', async () => {
    const query = 'query Q($withViewer: Boolean = false) { topProducts(first: 1) { name } viewer @include(if: $withViewer) { subject } }';
    const anonymous = await gateway.graphql({ query });
    assert.equal(anonymous.status, 200);
    assert.deepEqual(anonymous.body, { data: { topProducts: [{ name: 'Table' }] } });
    const skipped = await gateway.graphql({ query: query.replace('= false', '= true') });
    assert.equal(skipped.status, 401);
    assert.equal(skipped.body.errors?.[0]?.extensions?.['code'], 'UNAUTHENTICATED');
    // A variable that does not coerce is execution's error to report (a 400 naming it), not ours.
    const bad = await gateway.graphql({ query, variables: { withViewer: 'yes' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.data, undefined);
    assert.match(bad.body.errors?.[0]?.message ?? '', /withViewer/);
  });

  it('answers 401 UNAUTHENTICATED to an anonymous caller', async () => {
    const { status, body } = await gateway.graphql({ query: 'mutation { setPrice(upc: "1", price: 5) { upc } }' });
    assert.equal(status, 401);
    assert.equal(body.errors?.[0]?.extensions?.['code'], 'UNAUTHENTICATED');
  });

  it('refuses every anonymous request when AUTH_REQUIRED_FOR_GRAPH=true', async () => {
    const strict = await startTestGateway(composeTestSupergraph([products, reviews]), { AUTH_REQUIRED_FOR_GRAPH: 'true' });
    try {
      const { status, body } = await strict.graphql({ query: '{ topProducts { name } }' });
      assert.equal(status, 401);
      assert.match(body.errors?.[0]?.message ?? '', /requires a bearer token for every request/);
      const token = (await requestToken(strict.url)).body['token'];
      assert.equal((await strict.graphql({ query: '{ topProducts(first: 1) { name } }' }, bearer(token))).status, 200);
    } finally {
      await strict.close();
    }
  });
});
