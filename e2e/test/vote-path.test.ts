// Issue 2, scenarios 1 and 3: the whole vote path through the gateway only, and one query that
// crosses all three subgraphs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, createOpenPoll, expectedTally, readResults, runConcurrently, waitForFinalReceipts } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';

describe('vote path through the gateway', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let adminToken: string;

  before(async () => {
    stack = await startStack();
    client = createGraphQLClient(stack.gatewayUrl);
    adminToken = await client.adminToken(ADMIN_SECRET);
  });
  after(async () => stack?.[Symbol.asyncDispose]());

  it('counts 1,000 votes from 200 voters, changes of mind included, exactly', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Cats', 'Dogs', 'Birds', 'Fish']);
    const voters = await Promise.all(Array.from({ length: 200 }, () => client.voterToken()));
    const lastChoice = new Map<string, string>();
    const receipts: { id: string; token: string }[] = [];
    // Each voter casts five votes one after another (so "last" is well defined); voters run in parallel.
    await runConcurrently(voters, 40, async (token) => {
      for (let round = 0; round < 5; round++) {
        const option = poll.options[Math.floor(Math.random() * poll.options.length)];
        assert.ok(option);
        receipts.push({ id: await castVote(client, token, poll.id, option.id), token });
        lastChoice.set(token, option.id);
      }
    });
    assert.equal(receipts.length, 1000);

    const statuses = await waitForFinalReceipts(client, receipts);
    const counted = [...statuses.values()].filter((status) => status === 'COUNTED').length;
    const superseded = [...statuses.values()].filter((status) => status === 'SUPERSEDED').length;
    assert.equal(counted + superseded, 1000, 'every receipt ends COUNTED or SUPERSEDED');

    const expected = expectedTally(lastChoice);
    const results = await readResults(client, poll.id);
    assert.equal(results.totalVotes, 200);
    for (const option of results.options) {
      assert.equal(option.votes, expected.get(option.option.id) ?? 0, `votes for ${option.option.label}`);
    }
    const shareSum = results.options.reduce((sum, option) => sum + option.share, 0);
    assert.equal(Math.round(shareSum * 10) / 10, 100);
    assert.deepEqual(
      results.options.map((option) => option.option.label),
      ['Cats', 'Dogs', 'Birds', 'Fish'],
    );
  });

  it('answers one query that crosses the vote, result and audit subgraphs', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Yes', 'No'], 'Cross the graph?');
    const voter = await client.voterToken();
    const receiptId = await castVote(client, voter, poll.id, poll.options[0]?.id ?? '');
    await waitForFinalReceipts(client, [{ id: receiptId, token: voter }]);

    type CrossGraph = {
      poll: {
        question: string;
        status: string;
        results: { totalVotes: number; options: { votes: number; option: { label: string } }[] } | null;
        auditTrail: { edges: { node: { action: string } }[] };
      };
    };
    // Audit events travel over a gRPC stream after the fact: wait until the counted vote is logged.
    const data = await waitFor(
      async () => {
        const answer = await client.data<CrossGraph>(
          `query ($id: ID!) { poll(id: $id) { question status
              results { totalVotes options { votes option { label } } }
              auditTrail(first: 20) { edges { node { action } } } } }`,
          { id: poll.id },
          adminToken,
        );
        return answer.poll.auditTrail.edges.some((edge) => edge.node.action === 'vote.counted') && answer;
      },
      { timeoutMs: 20_000, what: 'the audit trail to show the counted vote' },
    );
    assert.equal(data.poll.question, 'Cross the graph?');
    assert.equal(data.poll.status, 'OPEN');
    assert.equal(data.poll.results?.totalVotes, 1);
    assert.deepEqual(
      data.poll.results?.options.map((option) => [option.option.label, option.votes]),
      [
        ['Yes', 1],
        ['No', 0],
      ],
    );
    const actions = data.poll.auditTrail.edges.map((edge) => edge.node.action);
    for (const action of ['poll.created', 'poll.opened', 'vote.accepted', 'vote.counted'])
      assert.ok(actions.includes(action), `audit trail has ${action}: ${actions.join(', ')}`);
  });
});
