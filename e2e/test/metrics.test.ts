// Issue 5, metrics: every process serves /metrics; the key series exist with the type and name
// METRICS (common/src/telemetry/names.ts) gives them — and nothing named votemesh_* that METRICS
// does not list — and they move when votes are cast, subscriptions open and the worker claims a
// dead consumer's entries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { METRICS, SERVICE_NAMES, type MetricName } from '@votemesh/common/telemetry/names';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { scrape, type Scrape } from '../src/prometheus.ts';
import { castVote, createOpenPoll, waitForFinalReceipts, type CreatedPoll } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient } from '../src/subscription-client.ts';

type ProcessName = 'gateway' | 'vote' | 'result' | 'audit' | 'worker';
const PROCESSES: readonly ProcessName[] = ['gateway', 'vote', 'result', 'audit', 'worker'];
const M = METRICS;

/** The series each process must export from the start (issue 5's list, by owner). */
const KEY_SERIES: Record<ProcessName, readonly MetricName[]> = {
  gateway: [
    M.gatewayOperationsTotal,
    M.gatewayOperationDurationSeconds,
    M.gatewayWsConnections,
    M.gatewaySseConnections,
    M.gatewaySubscriptions,
    M.gatewayUpstreamSubscriptions,
    M.gatewaySubscriptionMessagesTotal,
    M.gatewaySubscriptionEventsTotal,
    M.gatewaySlowConsumersDroppedTotal,
    M.gatewayTallyDeliverySeconds,
  ],
  vote: [M.votesTotal, M.castVoteDurationSeconds, M.voteSubscriptions],
  result: [M.resultSubscriptions, M.resultPushesTotal, M.resultWatchStreams, M.resultWatchReconnectsTotal],
  audit: [M.auditEventsAppendedTotal, M.auditAppendBatchSeconds, M.auditIngestStreams, M.auditAppendBatchSize, M.auditFeedSubscribers],
  worker: [M.workerBatchSize, M.workerBatchApplySeconds, M.workerVotesAppliedTotal, M.workerClaimedEntriesTotal, M.streamLength, M.streamPending, M.streamLag],
};
/** prom-client's standard process metrics, on every process. */
const PROCESS_SERIES = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
];

const TALLY = `subscription Tally($pollId: ID!) { pollResults(pollId: $pollId) { totalVotes options { votes option { label } } } }`;

function series(metric: MetricName): string {
  return metric.kind === 'histogram' ? `${metric.name}_count` : metric.name;
}

describe('Prometheus metrics of every process', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let adminToken: string;
  let redis: Redis;
  const urls = {} as Record<ProcessName, string>;
  const scrapeAll = async (): Promise<Record<ProcessName, Scrape>> => {
    const scrapes = await Promise.all(PROCESSES.map((name) => scrape(urls[name])));
    return Object.fromEntries(PROCESSES.map((name, index) => [name, scrapes[index]])) as Record<ProcessName, Scrape>;
  };

  before(async () => {
    stack = await startStack();
    for (const name of PROCESSES) urls[name] = `http://127.0.0.1:${stack.ports[name]}`;
    client = createGraphQLClient(stack.gatewayUrl);
    adminToken = await client.adminToken(ADMIN_SECRET);
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });
  after(async () => {
    redis?.disconnect();
    await stack?.[Symbol.asyncDispose]();
  });

  it('every process exports its key series and the process defaults, labelled with its service', async () => {
    const scrapes = await scrapeAll();
    for (const name of PROCESSES) {
      const page = scrapes[name];
      for (const metric of KEY_SERIES[name]) {
        assert.equal(page.types.get(metric.name), metric.kind, `${name} exports ${metric.name} as a ${metric.kind}`);
        // Labelled series appear with their first label set (the next test); the others at once.
        if (!('labelNames' in metric)) assert.ok(page.has(series(metric)), `${name} exports ${series(metric)}`);
      }
      for (const standard of PROCESS_SERIES) assert.ok(page.has(standard), `${name} exports ${standard}`);
      const services = new Set(page.samples.map((sample) => sample.labels['service']));
      assert.deepEqual([...services], [SERVICE_NAMES[name]], `${name}: every series carries service="${SERVICE_NAMES[name]}"`);
    }
  });

  it('every votemesh_* metric any process registers is listed in METRICS with the same type', async () => {
    const known = new Map((Object.values(METRICS) as MetricName[]).map((metric) => [metric.name, metric.kind]));
    const scrapes = await scrapeAll();
    for (const name of PROCESSES) {
      for (const [family, type] of scrapes[name].types) {
        if (!family.startsWith('votemesh_')) continue;
        assert.equal(known.get(family), type, `${name} registers ${family} (${type}); METRICS must list it with that type`);
        assert.match(family, /^votemesh_[a-z0-9_]+$/);
        if (type === 'counter') assert.match(family, /_total$/, `counter ${family} ends in _total`);
      }
    }
  });

  it('votes, subscriptions and pushes move the gateway, vote, result, audit and worker series', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Left', 'Right']);
    const before = await scrapeAll();

    await using wsClient = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    await using sseClient = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'sse' });
    const overWs = wsClient.subscribe<{ pollResults: { totalVotes: number } }>(TALLY, { pollId: poll.id });
    const overSse = sseClient.subscribe<{ pollResults: { totalVotes: number } }>(TALLY, { pollId: poll.id });
    await Promise.all([overWs, overSse].map((live) => live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0)));

    const open = await scrapeAll();
    assert.equal(open.gateway.sum(M.gatewayWsConnections.name), before.gateway.sum(M.gatewayWsConnections.name) + 1);
    assert.equal(open.gateway.sum(M.gatewaySseConnections.name), before.gateway.sum(M.gatewaySseConnections.name) + 1);
    assert.equal(open.gateway.sum(M.gatewaySubscriptions.name), before.gateway.sum(M.gatewaySubscriptions.name) + 2);
    // Same document and variables over two transports: one upstream subscription after dedup.
    assert.equal(open.gateway.sum(M.gatewayUpstreamSubscriptions.name), before.gateway.sum(M.gatewayUpstreamSubscriptions.name) + 1);
    assert.equal(open.result.sum(M.resultSubscriptions.name), before.result.sum(M.resultSubscriptions.name) + 1);
    assert.equal(open.result.sum(M.resultWatchStreams.name), before.result.sum(M.resultWatchStreams.name) + 1);

    const voters = await Promise.all([1, 2, 3].map(() => client.voterToken()));
    const receipts = [];
    for (const [index, token] of voters.entries()) receipts.push({ id: await castVote(client, token, poll.id, poll.options[index % 2]?.id ?? ''), token });
    const refused = await client.request(
      `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id } }`,
      { pollId: poll.id, optionId: '00000000-0000-4000-8000-000000000000' },
      voters[0],
    );
    const refusalCode = String(refused.errors?.[0]?.extensions?.['code']);
    assert.match(refusalCode, /^[A-Z_]+$/);
    await waitForFinalReceipts(client, receipts);
    await Promise.all([overWs, overSse].map((live) => live.waitForEvent((event) => event.data?.pollResults.totalVotes === 3)));

    // Counters are scraped until the settled state shows (the worker's audit events are asynchronous).
    const afterVotes = await waitFor(
      async () => {
        const now = await scrapeAll();
        return now.audit.sum(`${M.auditEventsAppendedTotal.name}`, { action: 'vote.counted' }) >=
          before.audit.sum(M.auditEventsAppendedTotal.name, { action: 'vote.counted' }) + 3
          ? now
          : undefined;
      },
      { timeoutMs: 20_000, what: 'three vote.counted audit events' },
    );
    const moved = (process: ProcessName, name: string, labels?: Record<string, string>): number =>
      afterVotes[process].sum(name, labels) - before[process].sum(name, labels);

    // vote subgraph
    assert.equal(moved('vote', M.votesTotal.name, { outcome: 'accepted' }), 3);
    assert.equal(moved('vote', M.votesTotal.name, { outcome: 'rejected', reason: refusalCode }), 1);
    assert.equal(moved('vote', `${M.castVoteDurationSeconds.name}_count`), 4);
    // gateway: operations by name/type/outcome, latency, events in and messages out
    assert.equal(moved('gateway', M.gatewayOperationsTotal.name, { operation_type: 'mutation', outcome: 'ok' }) >= 3, true);
    assert.equal(moved('gateway', M.gatewayOperationsTotal.name, { operation_type: 'mutation', outcome: refusalCode }), 1);
    assert.ok(moved('gateway', `${M.gatewayOperationDurationSeconds.name}_count`) >= 4);
    assert.ok(moved('gateway', M.gatewaySubscriptionEventsTotal.name) >= 2, 'the initial state and at least one tally update');
    assert.ok(moved('gateway', M.gatewaySubscriptionMessagesTotal.name) >= 4, 'each event written to both clients');
    const deliveries = moved('gateway', `${M.gatewayTallyDeliverySeconds.name}_count`);
    assert.ok(deliveries >= 1, 'vote-to-screen latency observed for the live tally updates');
    assert.ok(moved('gateway', `${M.gatewayTallyDeliverySeconds.name}_bucket`, { le: '+Inf' }) === deliveries);
    assert.ok(moved('gateway', `${M.gatewayTallyDeliverySeconds.name}_sum`) / deliveries < 10, 'delivery latency is measured from the commit, in seconds');
    // result subgraph
    assert.ok(moved('result', M.resultPushesTotal.name) >= 2);
    // worker
    assert.ok(moved('worker', `${M.workerBatchSize.name}_count`) >= 1);
    assert.equal(moved('worker', `${M.workerBatchSize.name}_sum`), 3, 'three entries went through batches');
    assert.ok(moved('worker', `${M.workerBatchApplySeconds.name}_count`) >= 1);
    assert.equal(moved('worker', M.workerVotesAppliedTotal.name, { outcome: 'counted' }), 3);
    // audit
    assert.ok(moved('audit', `${M.auditAppendBatchSeconds.name}_count`) >= 1);
    assert.ok(moved('audit', M.auditEventsAppendedTotal.name, { action: 'vote.accepted' }) >= 3);
  });

  it("stream length, pending and lag follow Redis, and a dead consumer's entries are claimed and counted", async () => {
    const keys = createRedisKeys(stack.redisPrefix);
    const poll: CreatedPoll = await createOpenPoll(client, adminToken, ['Up', 'Down']);
    const idle = await scrape(urls.worker);
    assert.equal(idle.sum(M.streamPending.name), 0);
    assert.equal(idle.sum(M.streamLag.name), 0);

    // With the worker stopped, three votes wait in the stream; a consumer that then "dies" takes one.
    await stack.processes.get('worker')?.stop();
    const voters = await Promise.all([1, 2, 3].map(() => client.voterToken()));
    const receipts = [];
    for (const token of voters) receipts.push({ id: await castVote(client, token, poll.id, poll.options[0]?.id ?? ''), token });
    const taken = (await redis.xreadgroup('GROUP', keys.tallyGroup, 'ghost', 'COUNT', 1, 'STREAMS', keys.votes, '>')) as
      | [string, [string, string[]][]][]
      | null;
    assert.equal(taken?.[0]?.[1].length, 1);

    // The restarted worker applies the two it can read; the ghost's entry stays pending (idle < CLAIM_IDLE_MS).
    await stack.restart('worker');
    await waitFor(async () => (await scrape(urls.worker)).sum(M.workerVotesAppliedTotal.name, { outcome: 'counted' }) === 2, {
      timeoutMs: 20_000,
      what: 'the two readable votes applied',
    });
    const stuck = await scrape(urls.worker);
    assert.equal(stuck.sum(M.streamPending.name), 1, "the dead consumer's entry is pending");
    assert.equal(stuck.sum(M.streamLag.name), 0, 'everything was delivered');
    assert.equal(stuck.sum(M.streamLength.name), await redis.xlen(keys.votes));
    assert.equal(stuck.sum(M.workerClaimedEntriesTotal.name), 0);

    // A replica that claims idle entries quickly takes it over and applies it.
    const claimer = await stack.startWorker('claimer', { CLAIM_IDLE_MS: '100', CLAIM_INTERVAL_MS: '200' });
    assert.ok(claimer.isRunning());
    const claimerPort = await waitFor(
      () => {
        const line = claimer.output.find((entry) => entry.includes('"msg":"listening"'));
        return line ? (JSON.parse(line) as { httpPort: number }).httpPort : undefined;
      },
      { what: 'the claimer to log its port' },
    );
    const claimerUrl = `http://127.0.0.1:${claimerPort}`;
    await waitFor(async () => (await scrape(claimerUrl)).sum(M.workerClaimedEntriesTotal.name) === 1, { timeoutMs: 20_000, what: 'the ghost entry claimed' });
    await waitForFinalReceipts(client, receipts);
    const settled = await waitFor(
      async () => {
        const page = await scrape(claimerUrl);
        return page.sum(M.streamPending.name) === 0 ? page : undefined;
      },
      { timeoutMs: 10_000, what: 'nothing pending' },
    );
    assert.equal(settled.sum(M.workerVotesAppliedTotal.name, { outcome: 'counted' }), 1);
    assert.equal(settled.sum(M.streamLength.name), await redis.xlen(keys.votes));
    assert.equal(settled.sum(M.streamLag.name), 0);
  });
});
