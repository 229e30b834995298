// Issue 5, logs: every line every process writes while a vote goes through the whole stack — at the
// most verbose level, with error paths exercised — is structured JSON, carries the trace context
// when logged inside a request, and never contains a credential: not the voter's or admin's bearer
// token, not the admin bootstrap secret, not the identity secret, not any JWT (the forwarded
// `x-votemesh-identity` token is one the test cannot see, so every JWT-shaped string counts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, waitForFinalReceipts } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient } from '../src/subscription-client.ts';

const IDENTITY_SECRET = 'log-test-identity-secret-0123456789abcdef';
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/;
/** A well-formed token no issuer signed: the gateway refuses it and must not echo it. */
const FORGED_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmb3JnZWQiLCJyb2xlIjoiYWRtaW4ifQ.Zm9yZ2VkLXNpZ25hdHVyZS1ieXRlcw';

interface LogLine {
  readonly process: string;
  readonly raw: string;
}

function traceparent(): { traceId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

describe('logs of the whole stack', () => {
  const lines: LogLine[] = [];
  let stack: Stack;
  let client: GraphQLClient;
  const secrets = new Map<string, string>([
    ['admin bootstrap secret', ADMIN_SECRET],
    ['identity secret', IDENTITY_SECRET],
    ['forged bearer token', FORGED_TOKEN],
  ]);
  const opened = traceparent();
  const refused = traceparent();
  let pollId = '';

  before(async () => {
    stack = await startStack({
      sharedEnv: { LOG_LEVEL: 'trace', IDENTITY_SECRET },
      onOutput: (process, raw) => lines.push({ process, raw }),
    });
    client = createGraphQLClient(stack.gatewayUrl);
    const adminToken = await client.adminToken(ADMIN_SECRET);
    const voterToken = await client.voterToken();
    secrets.set('admin bearer token', adminToken);
    secrets.set('voter bearer token', voterToken);

    const created = await client.data<{ createPoll: { id: string; options: { id: string }[] } }>(
      `mutation ($input: CreatePollInput!) { createPoll(input: $input) { id options { id } } }`,
      { input: { question: 'Logged?', options: ['Yes', 'No'] } },
      adminToken,
    );
    pollId = created.createPoll.id;
    // openPoll with the client's own trace context: the vote subgraph logs the status change inside it.
    const response = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, traceparent: opened.header },
      body: JSON.stringify({ query: `mutation Open($id: ID!) { openPoll(id: $id) { status } }`, variables: { id: pollId } }),
    });
    assert.equal(response.status, 200);

    await using subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token: voterToken });
    const live = subscriber.subscribe<{ pollResults: { totalVotes: number } }>(`subscription ($pollId: ID!) { pollResults(pollId: $pollId) { totalVotes } }`, {
      pollId,
    });
    await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);
    const receiptId = await castVote(client, voterToken, pollId, created.createPoll.options[0]?.id ?? '');
    await waitForFinalReceipts(client, [{ id: receiptId, token: voterToken }]);
    await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 1);

    // Error paths, where credentials are most likely to end up in a log line.
    const forbidden = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${voterToken}`, traceparent: refused.header },
      body: JSON.stringify({ query: `query { auditLog { edges { node { action } } } }` }),
    });
    assert.equal(((await forbidden.json()) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code, 'FORBIDDEN');
    const forged = await client.request(`query { polls { edges { node { id } } } }`, {}, FORGED_TOKEN);
    assert.ok(forged.errors?.length, 'the forged token is refused');
    const spoofed = await fetch(`${stack.gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-votemesh-identity': FORGED_TOKEN },
      body: JSON.stringify({
        query: `mutation ($p: ID!, $o: ID!) { castVote(pollId: $p, optionId: $o) { id } }`,
        variables: { p: pollId, o: created.createPoll.options[0]?.id },
      }),
    });
    assert.ok(((await spoofed.json()) as { errors?: unknown[] }).errors?.length, 'a client-supplied identity header is not trusted');
    const wrongAdmin = await fetch(`${stack.gatewayUrl}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ adminSecret: `${ADMIN_SECRET}-wrong` }),
    });
    assert.ok(!wrongAdmin.ok);
    secrets.set('wrong admin secret', `${ADMIN_SECRET}-wrong`);
    await using forgedSocket = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws', token: FORGED_TOKEN });
    const refusedSubscription = forgedSocket.subscribe(`subscription ($pollId: ID!) { pollResults(pollId: $pollId) { totalVotes } }`, { pollId });
    await waitFor(() => refusedSubscription.error() !== undefined, { what: 'the forged token to be refused on the socket too' });

    // Stopping every process flushes its last lines (shutdown logs included) before we look.
    await stack[Symbol.asyncDispose]();
  });

  after(async () => stack?.[Symbol.asyncDispose]());

  it('every process wrote JSON lines with level, time, service name and message', () => {
    for (const process of ['gateway', 'vote', 'result', 'audit', 'worker']) {
      const own = lines.filter((line) => line.process === process);
      assert.ok(
        own.some((line) => line.raw.includes('"msg":"listening"')),
        `${process} logged`,
      );
      for (const { raw } of own) {
        const parsed = JSON.parse(raw) as Record<string, unknown>;
        assert.equal(typeof parsed['level'], 'number', raw);
        assert.equal(typeof parsed['time'], 'number', raw);
        assert.equal(parsed['name'], `votemesh-${process}`, raw);
        assert.equal(typeof parsed['msg'], 'string', raw);
      }
    }
  });

  it('no line contains a token, a secret or any JWT', () => {
    for (const { process, raw } of lines) {
      for (const [what, secret] of secrets) assert.ok(!raw.includes(secret), `${process} logged the ${what}: ${raw}`);
      assert.doesNotMatch(raw, JWT, `${process} logged a JWT`);
      assert.doesNotMatch(raw, /bearer\s+[A-Za-z0-9._~+/=-]{20,}/i, `${process} logged a bearer credential`);
      assert.doesNotMatch(raw, /"(authorization|x-votemesh-identity|cookie)"\s*:\s*"(?!\[redacted\])/i, `${process} logged a credential header`);
    }
  });

  it("lines logged inside a request carry trace_id and span_id — the caller's trace", () => {
    const parsed = lines.map((line) => ({ ...line, json: JSON.parse(line.raw) as Record<string, unknown> }));
    const inRequests = parsed.filter((line) => line.json['requestId'] !== undefined);
    assert.ok(inRequests.length > 0, 'the refused auditLog query logged a line with its request id');
    for (const line of inRequests) {
      assert.match(String(line.json['trace_id']), /^[0-9a-f]{32}$/, line.raw);
      assert.match(String(line.json['span_id']), /^[0-9a-f]{16}$/, line.raw);
    }
    assert.ok(
      parsed.some((line) => line.process === 'gateway' && line.json['trace_id'] === refused.traceId && line.json['code'] === 'FORBIDDEN'),
      "the gateway logged the refusal in the client's trace",
    );
    const statusChange = parsed.find((line) => line.process === 'vote' && line.json['msg'] === 'poll status changed' && line.json['status'] === 'OPEN');
    assert.equal(statusChange?.json['trace_id'], opened.traceId, "the vote subgraph logged openPoll in the client's trace");
    assert.match(String(statusChange?.json['span_id']), /^[0-9a-f]{16}$/);
  });
});
