// The tally service (the worker) is down: `Poll.results` degrades to null with one clean
// UPSTREAM_UNAVAILABLE error per path, and everything else about the polls is still answered, so a
// client tells "no such poll" (poll: null, no error) from "results are down" (results: null + error).
// The error says nothing about where the worker lives; the result subgraph logs that.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient, type GraphQLResponse } from '../src/graphql-client.ts';
import { createOpenPoll, readResults, type CreatedPoll } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';

const CLEAN_ERROR = { message: 'Live results are temporarily unavailable; retry later', code: 'UPSTREAM_UNAVAILABLE', serviceName: 'result' };

type PollsAnswer = { polls: { edges: { node: { id: string; question: string; results: { totalVotes: number } | null } }[] } };

/** message, code and every other extension, to show nothing else reaches the client. */
function describeErrors(response: GraphQLResponse<unknown>): { path: unknown; message: string; code: unknown; serviceName: unknown; other: string[] }[] {
  return (response.errors ?? []).map(({ message, path, extensions = {} }) => {
    const { code, serviceName, ...other } = extensions;
    return { path, message, code, serviceName, other: Object.keys(other) };
  });
}

describe('results while the tally service is down', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let polls: CreatedPoll[];
  const resultLogs: string[] = [];

  before(async () => {
    stack = await startStack({ onOutput: (name, line) => name === 'result' && resultLogs.push(line) });
    client = createGraphQLClient(stack.gatewayUrl);
    const adminToken = await client.adminToken(ADMIN_SECRET);
    polls = [];
    for (const question of ['First?', 'Second?', 'Third?']) polls.push(await createOpenPoll(client, adminToken, ['Yes', 'No'], question));
    await stack.processes.get('worker')?.stop();
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  it('answers a list of polls with results null and one clean error per poll', async () => {
    const response = await client.request<PollsAnswer>(`{ polls(first: 3) { edges { node { id question results { totalVotes } } } } }`);
    assert.equal(response.status, 200);
    const nodes = response.data?.polls.edges.map((edge) => edge.node);
    assert.deepEqual(
      nodes?.map((node) => [node.question, node.results]),
      [
        ['Third?', null],
        ['Second?', null],
        ['First?', null],
      ],
    );
    assert.deepEqual(
      describeErrors(response),
      [0, 1, 2].map((index) => ({ path: ['polls', 'edges', index, 'node', 'results'], ...CLEAN_ERROR, other: [] })),
    );
    const text = JSON.stringify(response.errors);
    for (const internal of ['127.0.0.1', String(stack.ports.workerGrpc), 'ECONNREFUSED', 'UNAVAILABLE:', 'address']) {
      assert.ok(!text.includes(internal), `the errors do not mention ${internal}: ${text}`);
    }
  });

  it('answers one poll with its question and null results, unlike a poll that does not exist', async () => {
    const query = `query ($id: ID!) { poll(id: $id) { question results { totalVotes } } }`;
    const down = await client.request<{ poll: { question: string; results: unknown } | null }>(query, { id: polls[0]?.id });
    assert.deepEqual(down.data, { poll: { question: 'First?', results: null } });
    assert.deepEqual(describeErrors(down), [{ path: ['poll', 'results'], ...CLEAN_ERROR, other: [] }]);

    const missing = await client.request(query, { id: randomUUID() });
    assert.deepEqual(missing.data, { poll: null });
    assert.equal(missing.errors, undefined);
  });

  it('logs the details (gRPC status, the address) in the result subgraph', async () => {
    await waitFor(() => resultLogs.some((line) => line.includes('tally service GetResults failed') && line.includes(`127.0.0.1:${stack.ports.workerGrpc}`)), {
      what: 'the failed GetResults in the result subgraph log',
    });
  });

  it('serves results again once the worker is back', async () => {
    await stack.restart('worker');
    const id = polls[0]?.id ?? '';
    const results = await waitFor(
      async () => (await client.request(`query ($id: ID!) { poll(id: $id) { results { totalVotes } } }`, { id })).errors === undefined,
      {
        timeoutMs: 30_000,
        what: 'results to be readable again',
      },
    ).then(() => readResults(client, id));
    assert.equal(results.totalVotes, 0);
  });
});
