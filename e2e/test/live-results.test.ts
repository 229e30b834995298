// Issue 3: federated subscriptions through the one gateway endpoint, against the real subgraphs,
// worker, Redis and PostgreSQL. The main scenarios run over both transports.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, createOpenPoll, expectedTally, runConcurrently } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient, scrapeMetric, type Transport } from '../src/subscription-client.ts';

const POLL_RESULTS = `subscription ($pollId: ID!) {
  pollResults(pollId: $pollId) {
    totalVotes version
    options { votes share option { id label } }
    poll { question status }
  }
}`;

interface LiveResults {
  pollResults: {
    totalVotes: number;
    version: number;
    options: { votes: number; share: number; option: { id: string; label: string } }[];
    poll: { question: string; status: string };
  };
}

describe('live results through the gateway', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let adminToken: string;

  before(async () => {
    stack = await startStack();
    client = createGraphQLClient(stack.gatewayUrl);
    adminToken = await client.adminToken(ADMIN_SECRET);
  });
  after(async () => stack?.[Symbol.asyncDispose]());

  for (const transport of ['ws', 'sse'] as const satisfies readonly Transport[]) {
    it(`${transport}: pollResults reaches the exact final tally with fields from the vote subgraph`, async () => {
      const poll = await createOpenPoll(client, adminToken, ['North', 'South', 'East'], `Which way (${transport})?`);
      await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport });
      const live = subscriber.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
      await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);

      const voters = await Promise.all(Array.from({ length: 30 }, () => client.voterToken()));
      const lastChoice = new Map<string, string>();
      await runConcurrently(voters, 10, async (token) => {
        for (let round = 0; round < 2; round++) {
          const option = poll.options[(voters.indexOf(token) + round) % poll.options.length];
          assert.ok(option);
          await castVote(client, token, poll.id, option.id);
          lastChoice.set(token, option.id);
        }
      });
      const expected = expectedTally(lastChoice);
      const final = await live.waitForEvent(
        (event) =>
          event.data?.pollResults.options.every((option) => option.votes === (expected.get(option.option.id) ?? 0)) === true &&
          event.data.pollResults.totalVotes === voters.length,
        30_000,
      );
      const results = final.data?.pollResults;
      assert.ok(results);
      assert.equal(results.poll.question, `Which way (${transport})?`);
      assert.equal(results.poll.status, 'OPEN');
      assert.deepEqual(
        results.options.map((option) => option.option.label),
        ['North', 'South', 'East'],
      );
      const versions = live.events.map((event) => event.data?.pollResults.version ?? 0);
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        'versions never go backwards',
      );
    });
  }

  it('50 subscribers to one poll share exactly one upstream subscription, closed when they leave', async () => {
    const poll = await createOpenPoll(client, adminToken, ['One', 'Two']);
    // Fifty different voters: pollResults is public, so their identities must not split the upstream.
    const tokens = await Promise.all(Array.from({ length: 50 }, () => client.voterToken()));
    const clients = tokens.map((token) => createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token }));
    try {
      const subscriptions = clients.map((subscriber) => subscriber.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id }));
      await Promise.all(subscriptions.map((live) => live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0)));
      assert.equal(await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_upstream_subscriptions'), 1);
      assert.equal(await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_subscriptions'), 50);

      const voter = await client.voterToken();
      await castVote(client, voter, poll.id, poll.options[1]?.id ?? '');
      await Promise.all(subscriptions.map((live) => live.waitForEvent((event) => event.data?.pollResults.totalVotes === 1)));
    } finally {
      await Promise.all(clients.map((subscriber) => subscriber[Symbol.asyncDispose]()));
    }
    await waitFor(async () => (await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_upstream_subscriptions')) === 0, {
      timeoutMs: 10_000,
      what: 'the upstream subscription to close',
    });
  });

  it('a subscriber joining a shared pollResults upstream gets the CURRENT tally at once', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Early', 'Late']);
    await using first = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    const a = first.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
    await a.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);
    const voters = await Promise.all(Array.from({ length: 5 }, () => client.voterToken()));
    await runConcurrently(voters, 5, (token) => castVote(client, token, poll.id, poll.options[0]?.id ?? '').then(() => undefined));
    await a.waitForEvent((event) => event.data?.pollResults.totalVotes === voters.length, 30_000);
    // Earlier tests' upstreams may still be closing; the joiners must not add one.
    const upstreamsBefore = await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_upstream_subscriptions');

    for (const transport of ['ws', 'sse'] as const) {
      await using later = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport });
      const b = later.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
      const initial = await b.waitForEvent(() => true, 5000);
      assert.equal(initial.data?.pollResults.totalVotes, voters.length, `${transport}: the current tally, not the poll's first state`);
      assert.deepEqual(
        initial.data?.pollResults.options.map((option) => [option.option.label, option.votes]),
        [
          ['Early', 5],
          ['Late', 0],
        ],
      );
      assert.ok((await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_upstream_subscriptions')) <= upstreamsBefore, 'the joiner shares the upstream');
    }
  });

  // docs/contracts/subscriptions.md: pollResults pushes when the tally changes; a close changes no
  // tally, so the status in its events stays as it was, and pollStatus is what reports the close.
  it('a poll closing reaches pollStatus, while pollResults sends nothing (no tally changed)', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Open', 'Shut']);
    await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    const results = subscriber.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
    const lifecycle = subscriber.subscribe<{ pollStatus: { status: string } }>(`subscription ($pollId: ID!) { pollStatus(pollId: $pollId) { status } }`, {
      pollId: poll.id,
    });
    await results.waitForEvent((event) => event.data?.pollResults.poll.status === 'OPEN');
    // pollStatus sends changes from now on only: the vote subgraph must hold it before the close.
    const votePollStatus = async (): Promise<number> => {
      const page = await (await fetch(`http://127.0.0.1:${stack.ports.vote}/metrics`)).text();
      return Number(/^votemesh_vote_subscriptions\{[^}]*field="pollStatus"[^}]*\} (\d+)$/m.exec(page)?.[1] ?? 0);
    };
    await waitFor(async () => (await votePollStatus()) >= 1, { what: 'the pollStatus subscription on the vote subgraph' });
    await client.data(`mutation ($id: ID!) { closePoll(id: $id) { id } }`, { id: poll.id }, adminToken);
    await lifecycle.waitForEvent((event) => event.data?.pollStatus.status === 'CLOSED', 10_000);
    await waitFor(() => lifecycle.completed(), { what: 'pollStatus to complete after CLOSED' });
    const read = await client.data<{ poll: { status: string; results: { version: number } } }>(
      `query ($id: ID!) { poll(id: $id) { status results { version } } }`,
      { id: poll.id },
    );
    assert.equal(read.poll.status, 'CLOSED');
    assert.deepEqual(
      results.events.map((event) => [event.data?.pollResults.version, event.data?.pollResults.poll.status]),
      [[read.poll.results.version, 'OPEN']],
      'one event, the state at subscription time',
    );
  });

  it('voteReceipt goes PENDING → COUNTED for a vote cast after subscribing', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Tea', 'Coffee']);
    const voter = await client.voterToken();
    // Hold the worker so the receipt is certainly PENDING when the subscription starts.
    await stack.processes.get('worker')?.stop();
    const receiptId = await castVote(client, voter, poll.id, poll.options[0]?.id ?? '');
    await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token: voter });
    const live = subscriber.subscribe<{ voteReceipt: { status: string; option: { label: string } } }>(
      `subscription ($id: ID!) { voteReceipt(id: $id) { status option { label } } }`,
      { id: receiptId },
    );
    await live.waitForEvent((event) => event.data?.voteReceipt.status === 'PENDING');
    await stack.restart('worker');
    const counted = await live.waitForEvent((event) => event.data?.voteReceipt.status === 'COUNTED', 30_000);
    assert.equal(counted.data?.voteReceipt.option.label, 'Tea');
  });

  it('auditEvents is refused to a voter and streams to an admin', async () => {
    const query = `subscription { auditEvents { action subjectType pollId } }`;
    const voter = await client.voterToken();
    await using voterClient = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token: voter });
    const refused = voterClient.subscribe(query);
    await waitFor(() => refused.error() !== undefined || refused.events.some((event) => event.errors?.length), {
      what: 'the voter subscription to be refused',
    });
    const errors = (refused.error() ?? refused.events.find((event) => event.errors)?.errors) as { extensions?: { code?: string } }[];
    assert.ok(Array.isArray(errors), `expected GraphQL errors, got ${JSON.stringify(refused.error())}`);
    assert.equal(errors[0]?.extensions?.code, 'FORBIDDEN');

    await using adminClient = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token: adminToken });
    const feed = adminClient.subscribe<{ auditEvents: { action: string; pollId: string | null } }>(query);
    await waitFor(async () => (await scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_upstream_subscriptions')) >= 1, {
      what: 'the admin feed to be open upstream',
    });
    const poll = await createOpenPoll(client, adminToken, ['Up', 'Down']);
    await feed.waitForEvent((event) => event.data?.auditEvents.action === 'poll.opened' && event.data.auditEvents.pollId === poll.id);
  });

  it('an invalid subscription document gets a GraphQL error and the socket stays usable', async () => {
    await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    const invalid = subscriber.subscribe(`subscription { pollResults(pollId: "x") { noSuchField } }`);
    await waitFor(() => invalid.error() !== undefined, { what: 'the validation error' });
    const errors = invalid.error() as { message: string }[];
    assert.ok(Array.isArray(errors), `expected GraphQL errors, got ${String(invalid.error())}`);
    assert.match(errors[0]?.message ?? '', /noSuchField/);
    // Same connection, valid subscription: still works.
    const poll = await createOpenPoll(client, adminToken, ['Still', 'Works']);
    const valid = subscriber.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
    await valid.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);
  });

  it('a result subgraph restart either keeps the subscription alive or ends it cleanly in bounded time', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Before', 'After']);
    await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    const live = subscriber.subscribe<LiveResults>(POLL_RESULTS, { pollId: poll.id });
    await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);
    await stack.restart('result');
    const voter = await client.voterToken();
    await castVote(client, voter, poll.id, poll.options[1]?.id ?? '');
    await waitFor(() => live.events.some((event) => event.data?.pollResults.totalVotes === 1) || live.completed() || live.error() !== undefined, {
      timeoutMs: 30_000,
      what: 'an update after recovery, or a clean end',
    });
  });
});
