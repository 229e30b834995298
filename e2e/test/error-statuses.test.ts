// docs/errors.md, checked against the running stack: one request per documented case a client can
// cause, asserting the HTTP status and `extensions.code`. The expectations are the error registry
// itself (common/src/errors.ts, what the doc is generated from): a refusal's status must be one the
// registry lists for the code, an error during execution must come with 200 and a code the registry
// says arises during execution, and every status and execution case of every client-reachable code
// must have a request here (or a reason in NOT_PROVOKED), so doc, test and code cannot drift apart.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ERRORS, type ErrorCode, type ErrorSpec } from '@votemesh/common/errors';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { freePort } from '@votemesh/common/testing/free-port';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { openRawSocket } from '../src/raw-socket.ts';
import { createOpenPoll, type CreatedPoll } from '../src/scenario.ts';
import { createTokenSigner } from '../src/signed-tokens.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient } from '../src/subscription-client.ts';

const RATE_LIMIT = 60;
const ALLOWED_ORIGIN = 'https://app.example';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** `code status` pairs the stack of this test cannot produce, and why. */
const NOT_PROVOKED: Readonly<Record<string, string>> = {
  'UPSTREAM_UNAVAILABLE 503': 'needs AUTH_MODE=oidc with an unreachable issuer, or a request racing the gateway’s shutdown',
};

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

type Phase = 'refused' | 'execution';

interface Case {
  readonly code: ErrorCode;
  readonly phase: Phase;
  /** The expected status of a refusal (one of the registry's for the code); executions are 200. */
  readonly status?: number;
  readonly name: string;
  readonly send: () => Promise<Answer>;
  /** More to check on the answer (headers, partial data). */
  readonly check?: (answer: Answer) => void;
}

describe('every documented error reaches a client as docs/errors.md says', () => {
  const signer = createTokenSigner();
  let fakeAudit: Server;
  let stack: Stack;
  let client: GraphQLClient;
  let admin: string;
  let voter: string;
  let open: CreatedPoll;
  let other: CreatedPoll;
  let closed: CreatedPoll;
  let draftId: string;
  const covered = new Set<string>();

  before(async () => {
    // The audit subgraph as the gateway sees it: ready, but answering every operation with a bare
    // 502, as a proxy in front of a broken subgraph would (UPSTREAM_ERROR).
    const auditPort = await freePort();
    fakeAudit = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        if (body.includes('"{ __typename }"')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"__typename":"Query"}}');
        } else res.writeHead(502, { 'content-type': 'text/plain' }).end('Bad Gateway');
      });
    });
    await new Promise<void>((resolve) => fakeAudit.listen(auditPort, '127.0.0.1', resolve));
    stack = await startStack({
      gatewayEnv: {
        CORS_ORIGINS: ALLOWED_ORIGIN,
        RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
        MAX_CONNECTIONS_PER_CLIENT: '2',
        MAX_SUBSCRIPTIONS_PER_CONNECTION: '1',
        DEV_ISSUER_PRIVATE_JWK: signer.privateJwk,
        SUBGRAPH_URL_AUDIT: `http://127.0.0.1:${auditPort}/graphql`,
      },
    });
    client = createGraphQLClient(stack.gatewayUrl);
    admin = await client.adminToken(ADMIN_SECRET);
    voter = await client.voterToken();
    open = await createOpenPoll(client, admin, ['A', 'B']);
    other = await createOpenPoll(client, admin, ['C', 'D']);
    closed = await createOpenPoll(client, admin, ['E', 'F']);
    await client.data(`mutation ($id: ID!) { closePoll(id: $id) { id } }`, { id: closed.id }, admin);
    const draft = await client.data<{ createPoll: { id: string } }>(
      `mutation { createPoll(input: { question: "Draft?", options: ["x", "y"] }) { id } }`,
      {},
      admin,
    );
    draftId = draft.createPoll.id;
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
    await new Promise((resolve) => fakeAudit?.close(resolve));
  });

  const url = (): string => `${stack.gatewayUrl}/graphql`;
  const send = async (target: string, init: RequestInit): Promise<Answer> => {
    const response = await fetch(target, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) };
  };
  const post = (body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
    send(url(), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const cast = (pollId: string, optionId: string) =>
    post({ query: `mutation ($p: ID!, $o: ID!) { castVote(pollId: $p, optionId: $o) { id } }`, variables: { p: pollId, o: optionId } }, bearer(voter));
  const first = (poll: CreatedPoll): string => poll.options[0]?.id ?? '';
  const deep = (levels: number): string => (levels === 0 ? 'id' : `poll { options { ${deep(levels - 1)} } }`);
  const wwwAuthenticate = (answer: Answer) => assert.equal(answer.headers.get('www-authenticate'), 'Bearer');

  const cases: Case[] = [
    // Refused before execution: a 4xx/5xx, no data.
    {
      code: 'BAD_USER_INPUT',
      phase: 'refused',
      status: 400,
      name: 'a variable that does not coerce',
      send: () => post({ query: 'query ($id: ID!) { poll(id: $id) { id } }', variables: { id: { a: 1 } } }),
    },
    { code: 'BAD_USER_INPUT', phase: 'refused', status: 400, name: 'a POST body that is not JSON', send: () => post('{nope') },
    { code: 'BAD_USER_INPUT', phase: 'refused', status: 404, name: 'a path the gateway does not serve', send: () => send(`${stack.gatewayUrl}/nope`, {}) },
    {
      code: 'BAD_USER_INPUT',
      phase: 'refused',
      status: 413,
      name: 'a body over BODY_LIMIT_BYTES',
      send: () => post({ query: '{ __typename }', pad: 'x'.repeat(1_100_000) }),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 400,
      name: 'a text/plain POST (CSRF prevention)',
      send: () => send(url(), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"query":"{ __typename }"}' }),
    },
    { code: 'BAD_REQUEST', phase: 'refused', status: 400, name: 'a POST without query', send: () => post({ variables: {} }) },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 400,
      name: 'a subscription as a plain HTTP request',
      send: () => post({ query: `subscription { pollStatus(pollId: "${UNKNOWN_ID}") { status } }` }),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 405,
      name: 'PUT /graphql',
      send: () => send(url(), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }),
      check: (answer) => assert.equal(answer.headers.get('allow'), 'GET, POST, OPTIONS'),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 405,
      name: 'DELETE for a subscription stream',
      send: () => send(url(), { method: 'DELETE', headers: { accept: 'text/event-stream' } }),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 405,
      name: 'a mutation over GET',
      send: () =>
        send(`${url()}?query=${encodeURIComponent(`mutation { closePoll(id: "${UNKNOWN_ID}") { id } }`)}`, { headers: { 'apollo-require-preflight': 'true' } }),
    },
    { code: 'GRAPHQL_PARSE_FAILED', phase: 'refused', status: 400, name: 'a syntax error', send: () => post({ query: '{ poll(' }) },
    { code: 'GRAPHQL_VALIDATION_FAILED', phase: 'refused', status: 400, name: 'an unknown field', send: () => post({ query: '{ nope }' }) },
    {
      code: 'GRAPHQL_VALIDATION_FAILED',
      phase: 'refused',
      status: 400,
      name: 'deeper than GRAPHQL_MAX_DEPTH',
      send: () => post({ query: `{ poll(id: "${UNKNOWN_ID}") { options { ${deep(6)} } } }` }),
      check: (answer) => assert.equal(answer.body.errors?.[0]?.extensions?.['limit'], 'maxDepth'),
    },
    {
      code: 'GRAPHQL_VALIDATION_FAILED',
      phase: 'refused',
      status: 400,
      name: 'two operations, no operationName',
      send: () => post({ query: 'query A { __typename } query B { __typename }' }),
    },
    {
      code: 'PERSISTED_QUERY_NOT_FOUND',
      phase: 'refused',
      status: 200,
      name: 'a persisted query hash the gateway has not seen',
      send: () => post({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 400,
      name: 'a persisted query hash that does not match its query',
      send: () => post({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
    },
    {
      code: 'BAD_REQUEST',
      phase: 'refused',
      status: 400,
      name: 'an unsupported persisted query version',
      send: () => post({ query: '{ __typename }', extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } }),
    },
    {
      code: 'UNAUTHENTICATED',
      phase: 'refused',
      status: 401,
      name: 'an anonymous myVote',
      send: () => post({ query: `query ($id: ID!) { poll(id: $id) { question myVote { status } } }`, variables: { id: open.id } }),
      check: (answer) => {
        assert.deepEqual(answer.body.errors?.[0]?.extensions?.['fields'], ['Poll.myVote']);
        wwwAuthenticate(answer);
      },
    },
    {
      code: 'TOKEN_INVALID',
      phase: 'refused',
      status: 401,
      name: 'a malformed token',
      send: () => post({ query: '{ __typename }' }, bearer('not.a.jwt')),
      check: wwwAuthenticate,
    },
    {
      code: 'TOKEN_INVALID',
      phase: 'refused',
      status: 401,
      name: 'a Basic Authorization header',
      send: () => post({ query: '{ __typename }' }, { authorization: 'Basic eDp5' }),
    },
    {
      code: 'TOKEN_INVALID',
      phase: 'refused',
      status: 401,
      name: 'a bad token on an SSE subscription stream',
      send: () => post({ query: `subscription { pollStatus(pollId: "${open.id}") { status } }` }, { accept: 'text/event-stream', ...bearer('not.a.jwt') }),
    },
    {
      code: 'TOKEN_EXPIRED',
      phase: 'refused',
      status: 401,
      name: 'an expired token',
      send: () => post({ query: '{ __typename }' }, bearer(signer.sign({ exp: Math.floor(Date.now() / 1000) - 60 }))),
      check: wwwAuthenticate,
    },
    {
      code: 'TOKEN_WRONG_AUDIENCE',
      phase: 'refused',
      status: 401,
      name: 'a token for another audience',
      send: () => post({ query: '{ __typename }' }, bearer(signer.sign({ aud: 'someone-else' }))),
    },
    {
      code: 'TOKEN_WRONG_AUDIENCE',
      phase: 'refused',
      status: 401,
      name: 'a token from another issuer',
      send: () => post({ query: '{ __typename }' }, bearer(signer.sign({ iss: 'https://elsewhere.example' }))),
    },
    {
      code: 'FORBIDDEN',
      phase: 'refused',
      status: 403,
      name: 'a voter creating a poll',
      send: () => post({ query: 'mutation { createPoll(input: { question: "Mine?", options: ["x", "y"] }) { id } }' }, bearer(voter)),
    },
    {
      code: 'FORBIDDEN',
      phase: 'refused',
      status: 403,
      name: 'a voter reading Poll.auditTrail',
      send: () => post({ query: `{ poll(id: "${open.id}") { auditTrail { edges { cursor } } } }` }, bearer(voter)),
    },
    {
      code: 'FORBIDDEN',
      phase: 'refused',
      status: 403,
      name: 'a CORS preflight from an origin not in CORS_ORIGINS',
      send: () => send(url(), { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } }),
    },
    {
      code: 'RATE_LIMITED',
      phase: 'refused',
      status: 429,
      name: 'more than RATE_LIMIT_PER_MINUTE requests from one caller',
      async send() {
        const token = await client.voterToken();
        // Fixed windows: a window may turn over mid-burst, so two windows' worth is enough to see one full.
        for (let sent = 0; sent <= 2 * RATE_LIMIT + 1; sent++) {
          const answer = await post({ query: '{ __typename }' }, bearer(token));
          if (answer.status !== 200) return answer;
        }
        throw new Error(`no refusal after ${2 * RATE_LIMIT + 1} requests`);
      },
      check: (answer) => {
        assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/);
        assert.equal(answer.headers.get('ratelimit-limit'), String(RATE_LIMIT));
        assert.equal(typeof answer.body.errors?.[0]?.extensions?.['retryAfterSeconds'], 'number');
      },
    },
    {
      code: 'TOO_MANY_SUBSCRIPTIONS',
      phase: 'refused',
      status: 429,
      name: 'a third SSE stream with MAX_CONNECTIONS_PER_CLIENT=2',
      async send() {
        const token = await client.voterToken();
        const streams = new AbortController();
        const stream = () =>
          fetch(url(), {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(token) },
            body: JSON.stringify({ query: `subscription { pollStatus(pollId: "${open.id}") { status } }` }),
            signal: streams.signal,
          });
        try {
          const held = await Promise.all([stream(), stream()]);
          assert.deepEqual(
            held.map((response) => response.status),
            [200, 200],
          );
          const third = await stream();
          return { status: third.status, headers: third.headers, body: (await third.json()) as Answer['body'] };
        } finally {
          streams.abort();
        }
      },
    },

    // During execution: 200, the error in errors[], data beside it.
    {
      code: 'BAD_USER_INPUT',
      phase: 'execution',
      name: 'a poll id that is not a UUID, beside a field that resolves',
      send: () => post({ query: '{ poll(id: "nope") { id } polls(first: 1) { edges { cursor } } }' }),
      check: (answer) => {
        assert.equal(answer.body.data?.['poll'], null);
        assert.ok(answer.body.data?.['polls'], 'the rest of the operation resolved');
        assert.equal(answer.body.errors?.[0]?.extensions?.['field'], 'id');
      },
    },
    { code: 'POLL_NOT_FOUND', phase: 'execution', name: 'castVote on an unknown poll', send: () => cast(UNKNOWN_ID, first(open)) },
    { code: 'OPTION_NOT_IN_POLL', phase: 'execution', name: 'castVote with an option of another poll', send: () => cast(open.id, first(other)) },
    { code: 'POLL_NOT_OPEN', phase: 'execution', name: 'castVote on a closed poll', send: () => cast(closed.id, first(closed)) },
    { code: 'POLL_NOT_OPEN', phase: 'execution', name: 'castVote on a draft poll', send: () => cast(draftId, first(open)) },
    {
      code: 'POLL_STATE_CONFLICT',
      phase: 'execution',
      name: 'openPoll on an open poll',
      send: () => post({ query: 'mutation ($id: ID!) { openPoll(id: $id) { id } }', variables: { id: open.id } }, bearer(admin)),
      check: (answer) => assert.equal(answer.body.errors?.[0]?.extensions?.['status'], 'OPEN'),
    },
    {
      code: 'RECEIPT_NOT_FOUND',
      phase: 'execution',
      name: 'an unknown receipt id',
      send: () => post({ query: `{ voteReceipt(id: "${randomUUID()}") { id } }` }, bearer(voter)),
    },
    {
      code: 'UPSTREAM_ERROR',
      phase: 'execution',
      name: 'a subgraph answering a bare 502, beside a field another subgraph resolves',
      send: () => post({ query: `{ polls(first: 1) { edges { cursor } } poll(id: "${open.id}") { auditTrail { edges { cursor } } } }` }, bearer(admin)),
      check: (answer) => {
        assert.ok(answer.body.data?.['polls'], 'the vote subgraph’s field resolved');
        assert.equal(answer.body.data?.['poll'], null, 'the non-null auditTrail nulls its nullable parent');
        assert.deepEqual(answer.body.errors?.[0]?.extensions, { code: 'UPSTREAM_ERROR', serviceName: 'audit', status: 502 });
      },
    },
  ];

  for (const testCase of cases) {
    const status = testCase.phase === 'refused' ? testCase.status : 200;
    it(`${testCase.code}: ${testCase.name} → ${status}${testCase.phase === 'execution' ? ' (during execution)' : ''}`, async () => {
      const spec: ErrorSpec = ERRORS[testCase.code];
      if (testCase.phase === 'refused') {
        assert.ok(
          spec.refused.some((refusal) => refusal.status === status),
          `the registry lists no ${status} refusal for ${testCase.code}`,
        );
      } else {
        assert.ok(spec.duringExecution !== undefined, `the registry does not say ${testCase.code} arises during execution`);
      }
      const answer = await testCase.send();
      const codes = (answer.body.errors ?? []).map((error) => error.extensions?.['code']);
      assert.deepEqual({ status: answer.status, codes }, { status, codes: [testCase.code] }, JSON.stringify(answer.body));
      if (testCase.phase === 'refused') assert.equal(answer.body.data, undefined, 'a refusal carries no data');
      else assert.ok('data' in answer.body, 'an execution error comes with data');
      assert.ok(answer.headers.get('x-request-id'), 'every answer carries a request id');
      testCase.check?.(answer);
      covered.add(testCase.phase === 'refused' ? `${testCase.code} ${status}` : `${testCase.code} execution`);
    });
  }

  describe('subscription clients', () => {
    it('TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_WRONG_AUDIENCE: graphql-ws closes connection_init with 4403 and the code', async () => {
      for (const [code, token] of [
        ['TOKEN_INVALID', 'not.a.jwt'],
        ['TOKEN_EXPIRED', signer.sign({ exp: Math.floor(Date.now() / 1000) - 60 })],
        ['TOKEN_WRONG_AUDIENCE', signer.sign({ aud: 'someone-else' })],
      ] as const) {
        await using socket = await openRawSocket(stack.gatewayUrl, token);
        const close = await socket.closed();
        assert.equal(close.code, 4403);
        assert.ok(close.reason.startsWith(`${code}: `), close.reason);
        assert.match(ERRORS[code].subscriptions ?? '', /4403/);
      }
    });

    it('TOO_MANY_SUBSCRIPTIONS: graphql-ws closes a connection past MAX_CONNECTIONS_PER_CLIENT with 4429, and refuses a subscribe past MAX_SUBSCRIPTIONS_PER_CONNECTION', async () => {
      const token = await client.voterToken();
      await using firstSocket = await openRawSocket(stack.gatewayUrl, token);
      await using secondSocket = await openRawSocket(stack.gatewayUrl, token);
      await firstSocket.waitForMessage((message) => message['type'] === 'connection_ack');
      await secondSocket.waitForMessage((message) => message['type'] === 'connection_ack');
      await using third = await openRawSocket(stack.gatewayUrl, token);
      assert.equal((await third.closed()).code, 4429);

      const subscribe = (id: string) =>
        firstSocket.send({ id, type: 'subscribe', payload: { query: `subscription { pollStatus(pollId: "${open.id}") { status } }` } });
      subscribe('1');
      subscribe('2');
      const refused = await firstSocket.waitForMessage((message) => message['id'] === '2' && message['type'] === 'error');
      assert.equal((refused['payload'] as { extensions?: { code?: string } }[])[0]?.extensions?.code, 'TOO_MANY_SUBSCRIPTIONS');
      assert.match(ERRORS.TOO_MANY_SUBSCRIPTIONS.subscriptions, /4429/);
    });

    for (const transport of ['ws', 'sse'] as const) {
      for (const [code, query] of [
        ['POLL_NOT_FOUND', `subscription { pollStatus(pollId: "${UNKNOWN_ID}") { status } }`],
        ['POLL_NOT_FOUND', `subscription { pollResults(pollId: "${UNKNOWN_ID}") { totalVotes } }`],
        ['RECEIPT_NOT_FOUND', `subscription { voteReceipt(id: "${UNKNOWN_ID}") { status } }`],
      ] as const) {
        it(`${code} over ${transport} (${query.slice(15, 26)}…): one result with the error and data null, then complete`, async () => {
          await using subscriptions = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport, token: await client.voterToken() });
          const subscription = subscriptions.subscribe(query);
          const event = await subscription.waitForEvent((candidate) => candidate.errors !== undefined);
          assert.equal(event.errors?.[0]?.extensions?.['code'], code);
          assert.equal(event.data, null);
          await waitFor(() => subscription.completed(), { what: 'the subscription to complete' });
          assert.equal(subscription.error(), undefined);
        });
      }

      it(`UNAUTHENTICATED over ${transport}: an anonymous subscription to a protected field is refused with the code`, async () => {
        await using subscriptions = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport });
        const subscription = subscriptions.subscribe(`subscription { voteReceipt(id: "${UNKNOWN_ID}") { status } }`);
        const errors = await refusalOf(subscription);
        assert.equal(errors[0]?.extensions?.['code'], 'UNAUTHENTICATED');
      });
    }
  });

  describe('a subgraph that is down', () => {
    it('UPSTREAM_UNAVAILABLE: 200, its fields null, the rest of the operation resolved (during execution)', async () => {
      await stack.processes.get('result')?.stop();
      const answer = await post({ query: `query ($id: ID!) { poll(id: $id) { question results { totalVotes } } }`, variables: { id: open.id } });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.data, { poll: { question: 'Which one?', results: null } });
      assert.deepEqual(
        answer.body.errors?.map((error) => error.extensions),
        [{ code: 'UPSTREAM_UNAVAILABLE', serviceName: 'result' }],
      );
      assert.ok(ERRORS.UPSTREAM_UNAVAILABLE.duringExecution);
      covered.add('UPSTREAM_UNAVAILABLE execution');
    });
  });

  it('every refusal status and execution case of every client-reachable code was provoked above', () => {
    const missing: string[] = [];
    for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, ErrorSpec][]) {
      if (spec.reach !== 'client') continue;
      const expected = [...new Set(spec.refused.map((refusal) => `${code} ${refusal.status}`))];
      if (spec.duringExecution !== undefined) expected.push(`${code} execution`);
      missing.push(...expected.filter((key) => !covered.has(key) && NOT_PROVOKED[key] === undefined));
    }
    assert.deepEqual(missing, []);
  });
});

/** The errors a subscription was refused with: graphql-ws reports them to `error`, graphql-sse as an event. */
async function refusalOf(subscription: {
  events: { errors?: readonly { extensions?: Record<string, unknown> }[] }[];
  error: () => unknown;
  completed: () => boolean;
}): Promise<readonly { extensions?: Record<string, unknown> }[]> {
  return waitFor(
    () => {
      const failure = subscription.error();
      if (Array.isArray(failure)) return failure as { extensions?: Record<string, unknown> }[];
      return subscription.events.find((event) => event.errors !== undefined)?.errors;
    },
    { timeoutMs: 10_000, what: 'the subscription refusal' },
  );
}
