// The real result subgraph on port 0, against a real PostgreSQL test database (poll_options rows)
// and a real gRPC TallyService double (fake-tally-service.ts). Phases: queries and entities,
// live results, tally service failures, probes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { identitySecretKey } from '@votemesh/common/contracts/identity';
import { createPrismaClient, type PrismaClient } from '@votemesh/common/db/client';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { waitFor } from '@votemesh/common/testing/wait-for';
import type { Registry } from 'prom-client';
import { startResultSubgraph, type RunningResultSubgraph } from '../src/server.ts';
import { createTallyServiceClient, createTallySource, type TallyServiceClient } from '../src/tally-client.ts';
import { startFakeTallyService, type FakeTallyService } from './fake-tally-service.ts';
import { createTestWsClient } from './ws-client.ts';
import { captureLogs, type LogLine } from '@votemesh/common/testing/log-capture';

const COALESCE_MS = 100;

interface SeededPoll {
  readonly id: string;
  readonly optionIds: readonly string[];
}

interface Results {
  poll: { id: string };
  totalVotes: number;
  version: number;
  committedAt: number;
  updatedAt: string;
  isTie: boolean;
  votesPerSecond: number;
  leaders: { id: string }[];
  options: { votes: number; share: number; option: { id: string } }[];
}

const RESULTS_FIELDS = `poll { id } totalVotes version committedAt updatedAt isTie votesPerSecond leaders { id } options { votes share option { id } }`;

describe('result subgraph', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let tally: FakeTallyService;
  let grpcClient: TallyServiceClient;
  let registry: Registry;
  let subgraph: RunningResultSubgraph;
  /** What the subgraph logged at warn and above, parsed. */
  let logs: readonly LogLine[] = [];

  async function seedPoll(labels: readonly string[]): Promise<SeededPoll> {
    const id = randomUUID();
    // Created out of position order on purpose: the subgraph must sort by position.
    const options = labels.map((label, position) => ({ id: randomUUID(), label, position })).reverse();
    await prisma.poll.create({ data: { id, question: `Q ${labels.join('/')}`, createdBy: 'test', options: { create: options } } });
    return { id, optionIds: options.reverse().map((option) => option.id) };
  }

  async function graphql<T>(query: string, variables: Record<string, unknown> = {}) {
    const response = await fetch(`${subgraph.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: T; errors?: { message: string; path?: string[]; extensions?: { code?: string } }[] };
  }

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${subgraph.url}/metrics`)).text();
    const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`) || entry.startsWith(`${name} `));
    return Number(line?.split(' ').at(-1));
  }

  before(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient(db.url);
    tally = await startFakeTallyService();
    grpcClient = createTallyServiceClient(tally.address);
    registry = createMetricsRegistry('votemesh-result-test');
    const captured = captureLogs('votemesh-result-test', 'warn');
    logs = captured.lines;
    const { logger } = captured;
    subgraph = await startResultSubgraph({
      config: { host: '127.0.0.1', port: 0, production: false, coalesceMs: COALESCE_MS, watchReconnectInitialMs: 20, watchReconnectMaxMs: 200 },
      logger,
      registry,
      prisma,
      tally: createTallySource(grpcClient, { address: tally.address, deadlineMs: 500, logger }),
      identityKey: identitySecretKey('test-secret'),
    });
  });

  after(async () => {
    await subgraph?.close();
    grpcClient?.close();
    tally?.stop();
    await prisma?.$disconnect();
    await db?.[Symbol.asyncDispose]();
  });

  describe('queries', () => {
    it('resolves Poll.results for many entities in one _entities call, every option in position order', async () => {
      const voted = await seedPoll(['Red', 'Green', 'Blue']);
      const empty = await seedPoll(['Yes', 'No']);
      const [red, green, blue] = voted.optionIds;
      assert.ok(red && green && blue);
      tally.commit(voted.id, { [red]: 1, [blue]: 2 });
      tally.commit(voted.id, { [green]: 2 });
      const calls = tally.getResultsCalls.length;

      const { data, errors } = await graphql<{ _entities: { id: string; results: Results }[] }>(
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Poll { id results { ${RESULTS_FIELDS} } } } }`,
        {
          representations: [
            { __typename: 'Poll', id: voted.id },
            { __typename: 'Poll', id: empty.id },
            { __typename: 'Poll', id: voted.id },
          ],
        },
      );
      assert.equal(errors, undefined);
      assert.ok(data);
      assert.equal(tally.getResultsCalls.length - calls, 2, 'one GetResults per distinct poll');
      const [first, second, third] = data._entities;
      assert.ok(first && second && third);
      assert.deepEqual(third, first);
      assert.equal(first.id, voted.id);
      assert.deepEqual(first.results.poll, { id: voted.id });
      assert.equal(first.results.totalVotes, 5);
      assert.equal(first.results.version, 2);
      assert.deepEqual(first.results.options, [
        { votes: 1, share: 20, option: { id: red } },
        { votes: 2, share: 40, option: { id: green } },
        { votes: 2, share: 40, option: { id: blue } },
      ]);
      assert.deepEqual(first.results.leaders, [{ id: green }, { id: blue }]);
      assert.equal(first.results.isTie, true);
      assert.equal(first.results.votesPerSecond, 2.5);
      assert.ok(first.results.committedAt > 0);
      assert.equal(first.results.updatedAt, new Date(first.results.committedAt).toISOString());

      assert.equal(second.results.totalVotes, 0);
      assert.equal(second.results.version, 0);
      assert.deepEqual(second.results.leaders, []);
      assert.equal(second.results.isTie, false);
      assert.deepEqual(
        second.results.options.map((option) => [option.option.id, option.votes, option.share]),
        empty.optionIds.map((id) => [id, 0, 0]),
      );
    });

    it('answers POLL_NOT_FOUND (results null) for an unknown poll, next to the polls that exist', async () => {
      const known = await seedPoll(['A', 'B']);
      const unknown = randomUUID();
      const { data, errors } = await graphql<{ _entities: ({ results: { totalVotes: number } | null } | null)[] }>(
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Poll { results { totalVotes } } } }`,
        {
          representations: [
            { __typename: 'Poll', id: unknown },
            { __typename: 'Poll', id: known.id },
            { __typename: 'Poll', id: 'not-a-uuid' },
          ],
        },
      );
      // Poll.results is nullable: the entity stays, only its results are missing.
      assert.deepEqual(data?._entities, [{ results: null }, { results: { totalVotes: 0 } }, { results: null }]);
      assert.deepEqual(
        errors?.map((error) => [error.extensions?.code, error.path]),
        [
          ['POLL_NOT_FOUND', ['_entities', 0, 'results']],
          ['POLL_NOT_FOUND', ['_entities', 2, 'results']],
        ],
      );
      assert.match(errors?.[0]?.message ?? '', new RegExp(unknown));
    });

    it('resolves PollOption references by key', async () => {
      const { data } = await graphql<{ _entities: { id: string }[] }>(
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on PollOption { id } } }`,
        { representations: [{ __typename: 'PollOption', id: 'o-1' }] },
      );
      assert.deepEqual(data?._entities, [{ id: 'o-1' }]);
    });
  });

  describe('live results (graphql-ws)', () => {
    const SUBSCRIPTION = `subscription ($pollId: ID!) { pollResults(pollId: $pollId) { ${RESULTS_FIELDS} } }`;

    it('emits the current results at once, then coalesced updates in order with the latest state last', async () => {
      const poll = await seedPoll(['Cats', 'Dogs']);
      const [cats, dogs] = poll.optionIds;
      assert.ok(cats && dogs);
      tally.commit(poll.id, { [cats]: 1 });
      await using client = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const live = client.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: poll.id });
      const initial = await live.waitForEvent(() => true, 'the initial results');
      assert.equal(initial.errors, undefined);
      assert.equal(initial.data?.pollResults.version, 1);
      assert.deepEqual(
        initial.data?.pollResults.options.map((option) => option.votes),
        [1, 0],
      );
      await waitFor(() => tally.watchers(poll.id) === 1, { what: 'the WatchResults stream' });

      const BURST = 30;
      const burstStarted = Date.now();
      let lastVersion = 0;
      for (let i = 1; i <= BURST; i++) lastVersion = tally.commit(poll.id, { [cats]: 1 + i, [dogs]: i });
      const last = await live.waitForEvent((event) => event.data?.pollResults.version === lastVersion, 'the last committed state');
      const burstMs = Date.now() - burstStarted;
      assert.deepEqual(
        last.data?.pollResults.options.map((option) => option.votes),
        [1 + BURST, BURST],
      );
      assert.deepEqual(
        last.data?.pollResults.options.map((option) => option.share),
        [50.8, 49.2],
      );
      assert.deepEqual(last.data?.pollResults.leaders, [{ id: cats }]);

      const versions = live.events.map((event) => event.data?.pollResults.version ?? -1);
      assert.deepEqual(
        versions,
        [...new Set(versions)].sort((a, b) => a - b),
        `strictly increasing versions: ${versions.join(',')}`,
      );
      // At most one push per COALESCE_MS (plus the leading one), however the commits arrived:
      // normally the initial, one leading and one trailing push for the whole burst.
      const allowed = 1 + 1 + Math.ceil(burstMs / COALESCE_MS);
      assert.ok(live.events.length <= allowed, `coalesced ${BURST} commits in ${burstMs} ms into ${live.events.length - 1} pushes (≤ ${allowed - 1})`);
      assert.ok(live.events.length < BURST, 'far fewer pushes than commits');
      assert.equal(live.events.at(-1)?.data?.pollResults.version, lastVersion, 'the latest state is last');
    });

    it('shares one WatchResults stream per poll and closes it when the last subscriber leaves', async () => {
      const poll = await seedPoll(['Up', 'Down']);
      const [up] = poll.optionIds;
      assert.ok(up);
      await using first = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      await using second = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const a = first.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: poll.id });
      const b = second.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: poll.id });
      await a.waitForEvent((event) => event.data?.pollResults.version === 0, 'initial on a');
      await b.waitForEvent((event) => event.data?.pollResults.version === 0, 'initial on b');
      await waitFor(() => tally.watchers(poll.id) === 1, { what: 'one stream' });
      assert.equal(tally.watchers(poll.id), 1, 'two subscribers, one upstream stream');
      assert.ok((await metric('votemesh_result_subscriptions')) >= 2);

      const version = tally.commit(poll.id, { [up]: 7 });
      for (const live of [a, b]) await live.waitForEvent((event) => event.data?.pollResults.version === version, 'the fanned-out update');

      a.unsubscribe();
      await waitFor(async () => (await metric('votemesh_result_subscriptions')) === 1, { what: 'one subscription left' });
      assert.equal(tally.watchers(poll.id), 1, 'the stream stays while a subscriber is left');
      b.unsubscribe();
      await waitFor(() => tally.watchers(poll.id) === 0, { what: 'the stream to close' });
      await waitFor(async () => (await metric('votemesh_result_watch_streams')) === 0, { what: 'watch stream gauge at 0' });
      assert.equal(subgraph.live.watchedPolls, 0);
      assert.ok((await metric('votemesh_result_pushes_total')) >= 4);
    });

    it('watches a poll asked for in upper case under its one (lower-case) id, as the tally service answers', async () => {
      const poll = await seedPoll(['Tea', 'Coffee']);
      const [tea] = poll.optionIds;
      assert.ok(tea);
      await using client = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const live = client.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: poll.id.toUpperCase() });
      await live.waitForEvent((event) => event.data?.pollResults.version === 0, 'the initial results');
      await waitFor(() => tally.watchers(poll.id) === 1, { what: 'the stream watching the lower-case id' });
      const version = tally.commit(poll.id, { [tea]: 3 });
      const update = await live.waitForEvent((event) => event.data?.pollResults.version === version, 'the update');
      assert.deepEqual(
        update.data?.pollResults.options.map((option) => option.votes),
        [3, 0],
      );
    });

    it("refuses a poll id that is not a UUID with BAD_USER_INPUT, in the vote subgraph's words, without touching the tally service", async () => {
      const calls = tally.getResultsCalls.length;
      await using client = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const live = client.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: 'not-a-uuid' });
      const event = await live.waitForEvent((entry) => entry.errors !== undefined, 'an error result');
      assert.deepEqual(
        event.errors?.map(({ message, extensions }) => ({ message, extensions })),
        [{ message: 'pollId must be a UUID, got "not-a-uuid"', extensions: { code: 'BAD_USER_INPUT', field: 'pollId' } }],
      );
      await waitFor(() => live.completed, { what: 'the subscription to complete' });
      assert.equal(tally.getResultsCalls.length, calls);
      assert.equal(subgraph.live.watchedPolls, 0);
    });

    it('ends a subscription to an unknown poll with POLL_NOT_FOUND', async () => {
      await using client = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const live = client.subscribe<{ pollResults: Results }>(SUBSCRIPTION, { pollId: randomUUID() });
      const event = await live.waitForEvent((entry) => entry.errors !== undefined, 'an error result');
      assert.equal(event.errors?.[0]?.extensions?.['code'], 'POLL_NOT_FOUND');
      await waitFor(() => live.completed, { what: 'the subscription to complete' });
    });
  });

  describe('tally service outages', () => {
    it('keeps a subscription alive across a tally service restart and catches up on what was committed meanwhile', async () => {
      const poll = await seedPoll(['Left', 'Right']);
      const [left, right] = poll.optionIds;
      assert.ok(left && right);
      await using client = createTestWsClient(`${subgraph.url.replace('http', 'ws')}/graphql`);
      const live = client.subscribe<{ pollResults: Results }>(`subscription ($pollId: ID!) { pollResults(pollId: $pollId) { version options { votes } } }`, {
        pollId: poll.id,
      });
      await live.waitForEvent((event) => event.data?.pollResults.version === 0, 'the initial results');
      await waitFor(() => tally.watchers(poll.id) === 1, { what: 'the WatchResults stream' });
      const reconnectsBefore = await metric('votemesh_result_watch_reconnects_total');

      tally.stop();
      // Committed while the service is down: only a re-fetch on reconnect can deliver it.
      const whileDown = tally.commit(poll.id, { [left]: 3 });

      const other = await seedPoll(['Up', 'Down']);
      const { data, errors } = await graphql<{ _entities: { id: string; results: { version: number } | null }[] }>(
        `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Poll { id results { version } } } }`,
        { r: [poll, other].map(({ id }) => ({ __typename: 'Poll', id })) },
      );
      // Each entity stays, with null results and one error at its path that says no more than this:
      // no address, no gRPC status or details (those are logged).
      assert.deepEqual(data?._entities, [
        { id: poll.id, results: null },
        { id: other.id, results: null },
      ]);
      for (const error of errors ?? []) assert.deepEqual(Object.keys(error).sort(), ['extensions', 'locations', 'message', 'path']);
      assert.deepEqual(
        errors?.map(({ message, path, extensions }) => ({ message, path, extensions })),
        [
          { message: 'Live results are temporarily unavailable; retry later', path: ['_entities', 0, 'results'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } },
          { message: 'Live results are temporarily unavailable; retry later', path: ['_entities', 1, 'results'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } },
        ],
      );
      const logged = logs.find((line) => line['msg'] === 'tally service GetResults failed' && line['pollId'] === poll.id);
      assert.ok(logged, 'the failed call is logged');
      assert.equal(logged['address'], tally.address);
      assert.equal(logged['grpcStatus'], 'UNAVAILABLE');
      // Reported, but still ready: every replica shares the tally service, and this one still
      // answers (with precise errors) and keeps its live subscriptions waiting for it.
      // The scrape before the stop may be answered again for up to READINESS_REUSE_MS (common/src/readiness.ts).
      type Readiness = { checks: unknown[]; dependencies: { name: string; ok: boolean }[] };
      const degraded = await waitFor(
        async () => {
          const response = await fetch(`${subgraph.url}/readyz`);
          const body = (await response.json()) as Readiness;
          return body.dependencies.some((dependency) => dependency.name === 'tally-grpc' && !dependency.ok) && { status: response.status, body };
        },
        { what: '/readyz to report the tally service down' },
      );
      assert.equal(degraded.status, 200);
      const body = degraded.body;
      assert.deepEqual(body.checks, []);
      assert.deepEqual(
        body.dependencies.map((dependency) => [dependency.name, dependency.ok]),
        [
          ['postgres', true],
          ['tally-grpc', false],
        ],
      );
      assert.match(await (await fetch(`${subgraph.url}/metrics`)).text(), /^votemesh_dependency_up\{dependency="tally-grpc",required="false",[^}]*\} 0$/m);

      await tally.start();
      await live.waitForEvent((event) => event.data?.pollResults.version === whileDown, 'the state committed during the outage', 15_000);
      await waitFor(() => tally.watchers(poll.id) === 1, { what: 'the stream to be reopened' });
      const after = tally.commit(poll.id, { [right]: 4 });
      const latest = await live.waitForEvent((event) => event.data?.pollResults.version === after, 'updates after recovery');
      assert.deepEqual(
        latest.data?.pollResults.options.map((option) => option.votes),
        [3, 4],
      );
      assert.equal(live.completed, false);
      assert.ok((await metric('votemesh_result_watch_reconnects_total')) > reconnectsBefore);
      const versions = live.events.map((event) => event.data?.pollResults.version ?? -1);
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        'never an older state after a newer one',
      );
    });
  });

  describe('probes', () => {
    it('serves /healthz, /readyz and /metrics', async () => {
      assert.deepEqual(await (await fetch(`${subgraph.url}/healthz`)).json(), { status: 'ok' });
      await waitFor(async () => (await fetch(`${subgraph.url}/readyz`)).status === 200, { what: 'ready' });
      const metrics = await (await fetch(`${subgraph.url}/metrics`)).text();
      for (const name of ['votemesh_result_subscriptions', 'votemesh_result_pushes_total', 'votemesh_result_watch_streams', 'process_cpu_user_seconds_total']) {
        assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
      }
    });
  });
});
