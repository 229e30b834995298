// Issue 2, scenario 4: every way a vote or an admin action can be refused gets a clear error with
// the registry's code, and nothing is written (no stream entry, no poll).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { createOpenPoll, type CreatedPoll } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient } from '../src/subscription-client.ts';

const CAST = `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }`;

describe('refused operations write nothing', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let redis: Redis;
  let adminToken: string;
  let voterToken: string;
  let openPoll: CreatedPoll;
  let closedPoll: CreatedPoll;
  let otherPoll: CreatedPoll;

  before(async () => {
    stack = await startStack();
    client = createGraphQLClient(stack.gatewayUrl);
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    adminToken = await client.adminToken(ADMIN_SECRET);
    voterToken = await client.voterToken();
    openPoll = await createOpenPoll(client, adminToken, ['A', 'B']);
    otherPoll = await createOpenPoll(client, adminToken, ['C', 'D']);
    closedPoll = await createOpenPoll(client, adminToken, ['E', 'F']);
    await client.data(`mutation ($id: ID!) { closePoll(id: $id) { id } }`, { id: closedPoll.id }, adminToken);
  });
  after(async () => {
    redis?.disconnect();
    await stack?.[Symbol.asyncDispose]();
  });

  const streamLength = async (): Promise<number> => redis.xlen(`${stack.redisPrefix}votes`);

  const voteCases: [string, () => { pollId: string; optionId: string; token?: string }, string][] = [
    ['closed poll', () => ({ pollId: closedPoll.id, optionId: closedPoll.options[0]?.id ?? '', token: voterToken }), 'POLL_NOT_OPEN'],
    ['option of another poll', () => ({ pollId: openPoll.id, optionId: otherPoll.options[0]?.id ?? '', token: voterToken }), 'OPTION_NOT_IN_POLL'],
    ['unknown poll', () => ({ pollId: randomUUID(), optionId: openPoll.options[0]?.id ?? '', token: voterToken }), 'POLL_NOT_FOUND'],
    ['malformed poll id', () => ({ pollId: 'not-a-uuid', optionId: openPoll.options[0]?.id ?? '', token: voterToken }), 'BAD_USER_INPUT'],
    ['no token', () => ({ pollId: openPoll.id, optionId: openPoll.options[0]?.id ?? '' }), 'UNAUTHENTICATED'],
    ['garbage token', () => ({ pollId: openPoll.id, optionId: openPoll.options[0]?.id ?? '', token: 'not.a.jwt' }), 'TOKEN_INVALID'],
  ];

  for (const [name, input, code] of voteCases) {
    it(`castVote refuses: ${name} → ${code}`, async () => {
      const before = await streamLength();
      const { token, ...variables } = input();
      const response = await client.request(CAST, variables, token);
      const codes = (response.errors ?? []).map((error) => error.extensions?.['code']);
      assert.ok(codes.includes(code), `expected ${code}, got ${JSON.stringify(response.errors)}`);
      assert.ok(response.errors?.every((error) => error.message.length > 0));
      assert.equal(await streamLength(), before, 'no stream entry was written');
    });
  }

  it('a poll id that is not a UUID is BAD_USER_INPUT in the same words, whichever subgraph owns the field', async () => {
    const refusals: { field: string; serviceName: unknown; error: { message: string; extensions?: Record<string, unknown> } | undefined }[] = [];
    const poll = await client.request(`{ poll(id: "not-a-uuid") { id } }`);
    refusals.push({ field: 'id', serviceName: 'vote', error: poll.errors?.[0] });
    const audit = await client.request(`{ auditLog(filter: { pollId: "not-a-uuid" }) { edges { cursor } } }`, {}, adminToken);
    refusals.push({ field: 'filter.pollId', serviceName: 'audit', error: audit.errors?.[0] });
    await using subscriptions = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'sse', token: adminToken });
    for (const [query, serviceName] of [
      [`subscription { pollResults(pollId: "not-a-uuid") { totalVotes } }`, 'result'],
      [`subscription { pollStatus(pollId: "not-a-uuid") { status } }`, 'vote'],
      [`subscription { auditEvents(filter: { pollId: "not-a-uuid" }) { seq } }`, 'audit'],
    ] as const) {
      const subscription = subscriptions.subscribe(query);
      const event = await subscription.waitForEvent((candidate) => candidate.errors !== undefined);
      refusals.push({ field: query.includes('filter') ? 'filter.pollId' : 'pollId', serviceName, error: event.errors?.[0] });
    }
    for (const { field, serviceName, error } of refusals) {
      assert.deepEqual(
        { message: error?.message, extensions: error?.extensions },
        { message: `${field} must be a UUID, got "not-a-uuid"`, extensions: { code: 'BAD_USER_INPUT', field, serviceName } },
      );
    }
  });

  it('a voter calling an admin mutation is refused with FORBIDDEN and no poll is created', async () => {
    const beforePolls = await client.data<{ polls: { edges: unknown[] } }>(`{ polls(first: 100) { edges { cursor } } }`);
    const response = await client.request(`mutation { createPoll(input: { question: "Mine?", options: ["x", "y"] }) { id } }`, {}, voterToken);
    assert.equal(response.errors?.[0]?.extensions?.['code'], 'FORBIDDEN', JSON.stringify(response.errors));
    const afterPolls = await client.data<{ polls: { edges: unknown[] } }>(`{ polls(first: 100) { edges { cursor } } }`);
    assert.equal(afterPolls.polls.edges.length, beforePolls.polls.edges.length);
  });

  it('a subgraph called directly, without the gateway identity, refuses voter and admin operations', async () => {
    const before = await streamLength();
    const direct = async (query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${stack.ports.vote}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    };
    const vote = await direct(CAST, { pollId: openPoll.id, optionId: openPoll.options[0]?.id });
    assert.equal(vote.errors?.[0]?.extensions?.code, 'IDENTITY_MISSING');
    // A client's bearer token is not an identity the subgraph trusts; neither is a forged header.
    const forged = await direct(
      CAST,
      { pollId: openPoll.id, optionId: openPoll.options[0]?.id },
      { authorization: `Bearer ${voterToken}`, 'x-votemesh-identity': 'forged' },
    );
    assert.equal(forged.errors?.[0]?.extensions?.code, 'IDENTITY_MISSING');
    const admin = await direct(`mutation { createPoll(input: { question: "Direct?", options: ["x", "y"] }) { id } }`, {});
    assert.equal(admin.errors?.[0]?.extensions?.code, 'IDENTITY_MISSING');
    assert.equal(await streamLength(), before);
  });
});
