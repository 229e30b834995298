// The admin GraphQL surface over HTTP and graphql-ws: who may call it, how pages walk the log,
// the federated Poll.auditTrail, and the live auditEvents feed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { identitySecretKey, signIdentity, type Identity } from '@votemesh/common/contracts/identity';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN, makeEvent, SECRET, startHarness, VOTER, type GraphQLResult, type Harness } from './harness.ts';

interface Page {
  edges: { cursor: string; node: { seq: string; subjectId: string; action: string; pollId: string | null; data: string; hash: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
const PAGE_FIELDS = 'edges { cursor node { seq subjectId action pollId data hash } } pageInfo { hasNextPage endCursor }';

describe('audit GraphQL', () => {
  let h: Harness;
  const pollId = randomUUID();
  before(async () => {
    h = await startHarness();
    await h.record(
      Array.from({ length: 7 }, (_, i) => makeEvent({ poll_id: pollId, action: i === 0 ? 'poll.created' : 'vote.accepted', subject_id: `p${i}` })),
    );
    await h.record(Array.from({ length: 5 }, (_, i) => makeEvent({ subject_id: `other${i}` })));
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  describe('authorization', () => {
    const operations = [
      ['auditLog', '{ auditLog { edges { cursor } } }'],
      ['verifyAuditLog', '{ verifyAuditLog { ok } }'],
      [
        'Poll.auditTrail',
        `{ _entities(representations: [{ __typename: "Poll", id: "${randomUUID()}" }]) { ... on Poll { auditTrail { edges { cursor } } } } }`,
      ],
    ] as const;
    for (const [name, query] of operations) {
      it(`${name}: FORBIDDEN for a voter, IDENTITY_MISSING without identity or with a bad token`, async () => {
        const asVoter = await h.graphql(query, {}, VOTER);
        assert.equal(asVoter.errors?.[0]?.extensions?.code, 'FORBIDDEN');
        const anonymous = await h.graphql(query);
        assert.equal(anonymous.errors?.[0]?.extensions?.code, 'IDENTITY_MISSING');
        const forged = await fetch(`${h.audit.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-votemesh-identity': await signIdentity(identitySecretKey('another-secret'), ADMIN) },
          body: JSON.stringify({ query }),
        });
        const body = (await forged.json()) as { errors?: { extensions?: { code?: string } }[] };
        assert.equal(body.errors?.[0]?.extensions?.code, 'IDENTITY_MISSING');
      });
    }
  });

  describe('auditLog pagination', () => {
    it('walks the whole log newest first without gaps or repeats', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let guard = 0; guard < 10; guard += 1) {
        const result: GraphQLResult<{ auditLog: Page }> = await h.graphql<{ auditLog: Page }>(
          `query($after: String) { auditLog(first: 5, after: $after) { ${PAGE_FIELDS} } }`,
          { after },
          ADMIN,
        );
        assert.equal(result.errors, undefined);
        const page = result.data?.auditLog;
        assert.ok(page);
        seen.push(...page.edges.map((edge) => edge.node.seq));
        assert.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor ?? null);
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      const expected = (await h.prisma.auditEvent.findMany({ orderBy: { seq: 'desc' }, select: { seq: true } })).map((row) => row.seq.toString());
      assert.deepEqual(seen, expected);
      assert.equal(seen.length, 12);
    });

    it('filters by poll, action, actor and time', async () => {
      const byPoll = await h.graphql<{ auditLog: Page }>(
        `query($p: ID) { auditLog(filter: { pollId: $p }, first: 50) { ${PAGE_FIELDS} } }`,
        { p: pollId.toUpperCase() },
        ADMIN,
      );
      assert.equal(byPoll.data?.auditLog.edges.length, 7);
      assert.ok(byPoll.data.auditLog.edges.every((edge) => edge.node.pollId === pollId));
      const byAction = await h.graphql<{ auditLog: Page }>(`{ auditLog(filter: { action: "poll.created" }) { ${PAGE_FIELDS} } }`, {}, ADMIN);
      assert.deepEqual(
        byAction.data?.auditLog.edges.map((edge) => edge.node.subjectId),
        ['p0'],
      );
      const byActor = await h.graphql<{ auditLog: Page }>(`{ auditLog(filter: { actor: "nobody" }) { ${PAGE_FIELDS} } }`, {}, ADMIN);
      assert.deepEqual(byActor.data?.auditLog, { edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
      const future = await h.graphql<{ auditLog: Page }>(`{ auditLog(filter: { since: "2031-01-01T00:00:00Z" }) { ${PAGE_FIELDS} } }`, {}, ADMIN);
      assert.equal(future.data?.auditLog.edges.length, 0);
      const past = await h.graphql<{ auditLog: Page }>(`{ auditLog(filter: { since: "2029-01-01T00:00:00Z" }, first: 200) { ${PAGE_FIELDS} } }`, {}, ADMIN);
      assert.equal(past.data?.auditLog.edges.length, 12);
    });

    it('refuses first > 200, a foreign cursor and a non-UUID poll id with BAD_USER_INPUT', async () => {
      for (const query of [
        '{ auditLog(first: 201) { pageInfo { hasNextPage } } }',
        '{ auditLog(after: "bm90LWEtY3Vyc29y") { pageInfo { hasNextPage } } }',
        '{ auditLog(filter: { pollId: "x" }) { pageInfo { hasNextPage } } }',
      ]) {
        const result = await h.graphql(query, {}, ADMIN);
        assert.equal(result.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', query);
      }
    });
  });

  it('resolves Poll.auditTrail through _entities, newest first and paginated', async () => {
    const query = `query($reps: [_Any!]!, $after: String) { _entities(representations: $reps) { ... on Poll { id auditTrail(first: 4, after: $after) { ${PAGE_FIELDS} } } } }`;
    const reps = [{ __typename: 'Poll', id: pollId }];
    const first = await h.graphql<{ _entities: { id: string; auditTrail: Page }[] }>(query, { reps }, ADMIN);
    assert.equal(first.errors, undefined);
    const trail = first.data?._entities[0]?.auditTrail;
    assert.deepEqual(
      trail?.edges.map((edge) => edge.node.subjectId),
      ['p6', 'p5', 'p4', 'p3'],
    );
    assert.equal(trail.pageInfo.hasNextPage, true);
    const second = await h.graphql<{ _entities: { auditTrail: Page }[] }>(query, { reps, after: trail.pageInfo.endCursor }, ADMIN);
    assert.deepEqual(
      second.data?._entities[0]?.auditTrail.edges.map((edge) => edge.node.subjectId),
      ['p2', 'p1', 'p0'],
    );
    assert.equal(second.data?._entities[0]?.auditTrail.pageInfo.hasNextPage, false);
  });

  describe('auditEvents subscription (graphql-ws)', () => {
    const clients: Client[] = [];
    after(async () => {
      await Promise.all(clients.map((client) => client.dispose()));
    });
    async function connect(identity?: Identity): Promise<Client> {
      const token = identity ? await signIdentity(identitySecretKey(SECRET), identity) : undefined;
      const client = createClient({
        url: `${h.audit.url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: token ? { identity: token } : {},
        retryAttempts: 0,
        lazy: true,
      });
      clients.push(client);
      return client;
    }
    function collect(client: Client, query: string, variables: Record<string, unknown> = {}) {
      const received: Record<string, unknown>[] = [];
      const errors: unknown[] = [];
      let completed = false;
      client.subscribe(
        { query, variables },
        { next: (value) => received.push(value as Record<string, unknown>), error: (error) => errors.push(error), complete: () => (completed = true) },
      );
      return { received, errors, isCompleted: () => completed };
    }

    it('pushes newly appended events that match the filter, in chain order', async () => {
      const client = await connect(ADMIN);
      const feedPoll = randomUUID();
      const sub = collect(client, 'subscription($f: AuditLogFilter) { auditEvents(filter: $f) { seq subjectId action pollId prevHash hash } }', {
        f: { pollId: feedPoll, action: 'vote.counted' },
      });
      // The subscription is live once the server counts a subscriber.
      await waitFor(async () => /votemesh_audit_feed_subscribers\{[^}]*\} 1/.test(await (await fetch(`${h.audit.url}/metrics`)).text()), {
        what: 'the subscription to register',
      });
      await h.record([
        makeEvent({ poll_id: feedPoll, subject_id: 'live-1' }),
        makeEvent({ poll_id: feedPoll, subject_id: 'wrong-action', action: 'vote.rejected' }),
        makeEvent({ subject_id: 'other-poll' }),
        makeEvent({ poll_id: feedPoll, subject_id: 'live-2' }),
      ]);
      const received = await waitFor(() => sub.received.length >= 2 && sub.received, { what: 'two live events' });
      const events = received.map((message) => (message['data'] as { auditEvents: { subjectId: string; seq: string; pollId: string } }).auditEvents);
      assert.deepEqual(
        events.map((event) => event.subjectId),
        ['live-1', 'live-2'],
      );
      assert.ok(BigInt(events[0]?.seq ?? 0) < BigInt(events[1]?.seq ?? 0));
      assert.ok(events.every((event) => event.pollId === feedPoll));
      assert.deepEqual(sub.errors, []);
    });

    it('refuses voters with FORBIDDEN and anonymous connections with IDENTITY_MISSING', async () => {
      for (const [identity, code] of [
        [VOTER, 'FORBIDDEN'],
        [undefined, 'IDENTITY_MISSING'],
      ] as const) {
        const sub = collect(await connect(identity), 'subscription { auditEvents { seq } }');
        await waitFor(() => sub.received.length > 0 || sub.errors.length > 0, { what: `the ${code} answer` });
        const message = sub.received[0] as { errors?: { extensions?: { code?: string } }[] } | undefined;
        const errors = message?.errors ?? (sub.errors[0] as { extensions?: { code?: string } }[]);
        assert.equal(errors[0]?.extensions?.code, code);
      }
    });
  });
});
