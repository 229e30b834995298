// Issue 5, traces: every process exports OTLP/HTTP to a receiver inside this test, and one vote cast
// through the gateway is followed from the client's traceparent to the subscription push:
//   client ─▶ gateway ─▶ vote subgraph ─▶ `send votes` (traceparent into the stream entry)
//   worker `tally.apply_batch` LINKS to that entry's context
//   batch ─▶ result `graphql.subscription.event` ─▶ gateway `gateway.subscription.fanout`
// plus the semantic-convention attributes on GraphQL, messaging and gRPC spans, and a client
// subscription's trace context reaching the subgraph over the gateway's upstream graphql-ws socket:
//   client (connection_init / subscribe extensions) ⇢ LINK from gateway `gateway.upstream.subscribe`
//   (the root of the shared upstream's own trace) ─▶ subgraph `subscription …` execution
// and long-lived, shared calls (the AuditIngest client stream) in traces of their own, never in
// the trace of the request that happened to open them.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ATTR, SERVICE_NAMES, SPAN_NAMES, TRACER_NAMES, VOTES_DESTINATION } from '@votemesh/common/telemetry/names';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../src/otlp-receiver.ts';
import { createOpenPoll, type CreatedPoll } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';
import { createSubscriptionClient, type SubscriptionClient, type TestSubscription } from '../src/subscription-client.ts';

interface ClientTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceparent: string;
}

function clientTrace(): ClientTrace {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** Posts a named operation with the client's own trace context and request id. */
async function post(
  gatewayUrl: string,
  body: { query: string; operationName: string; variables: Record<string, unknown> },
  headers: Record<string, string>,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${gatewayUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
  assert.equal(response.status, 200, JSON.stringify(json));
  assert.equal(json.errors, undefined, JSON.stringify(json.errors));
  assert.ok(json.data);
  return json.data;
}

/** The chain of spans from `span` up to the root of its trace (as far as parents were received). */
function ancestry(spans: readonly ReceivedSpan[], span: ReceivedSpan): ReceivedSpan[] {
  const byId = new Map(spans.filter((candidate) => candidate.traceId === span.traceId).map((candidate) => [candidate.spanId, candidate]));
  const chain = [span];
  for (let parent = byId.get(span.parentSpanId); parent; parent = byId.get(parent.parentSpanId)) chain.push(parent);
  return chain;
}

function describeSpans(spans: readonly ReceivedSpan[]): string {
  return spans.map((span) => `${span.service} ${span.name} ${span.traceId}/${span.spanId}←${span.parentSpanId || '∅'}`).join('\n');
}

describe('one vote is one trace, across all five processes', () => {
  let receiver: OtlpReceiver;
  let stack: Stack;
  let client: GraphQLClient;
  let poll: CreatedPoll;
  let subscriber: SubscriptionClient;
  let live: TestSubscription<{ pollResults: { totalVotes: number; options: { votes: number; option: { label: string } }[] } }>;
  const vote = clientTrace();
  const requestId = `e2e-${randomUUID()}`;
  let voterToken: string;
  let adminToken: string;
  let receiptId: string;

  before(async () => {
    receiver = await startOtlpReceiver();
    stack = await startStack({
      sharedEnv: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    client = createGraphQLClient(stack.gatewayUrl);
    adminToken = await client.adminToken(ADMIN_SECRET);
    poll = await createOpenPoll(client, adminToken, ['Red', 'Blue'], 'Traced poll?');
    subscriber = createSubscriptionClient({ gatewayUrl: stack.gatewayUrl, transport: 'ws' });
    live = subscriber.subscribe(`subscription LiveTally($pollId: ID!) { pollResults(pollId: $pollId) { totalVotes options { votes option { label } } } }`, {
      pollId: poll.id,
    });
    await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 0);
    voterToken = await client.voterToken();

    const data = await post(
      stack.gatewayUrl,
      {
        query: `mutation CastVote($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }`,
        operationName: 'CastVote',
        variables: { pollId: poll.id, optionId: poll.options[1]?.id },
      },
      { authorization: `Bearer ${voterToken}`, traceparent: vote.traceparent, 'x-request-id': requestId },
    );
    const cast = data['castVote'] as { id: string; status: string };
    assert.equal(cast.status, 'PENDING');
    receiptId = cast.id;
  });

  after(async () => {
    await subscriber?.[Symbol.asyncDispose]();
    await stack?.[Symbol.asyncDispose]();
    await receiver?.[Symbol.asyncDispose]();
  });

  it('gateway and vote subgraph continue the client trace as one parent/child chain down to the stream producer', async () => {
    const send = await receiver.waitFor(
      (spans) => spans.find((span) => span.traceId === vote.traceId && span.name === SPAN_NAMES.votesSend),
      'the vote subgraph `send votes` span in the client trace',
    );
    // The gateway's server span is exported when the response is done; the chain is complete then.
    const chain = await receiver.waitFor((spans) => {
      const found = ancestry(spans, send);
      return found.at(-1)?.parentSpanId === vote.spanId ? found : undefined;
    }, 'the span chain from `send votes` up to the gateway span whose parent is the client');
    const trace = receiver.spans.filter((span) => span.traceId === vote.traceId);

    const services = chain.map((span) => span.service);
    const root = chain.at(-1);
    assert.ok(root);
    assert.equal(root.service, SERVICE_NAMES.gateway, `the trace enters at the gateway:\n${describeSpans(chain)}`);
    assert.equal(root.kind, SPAN_KIND.server);
    // [send votes, …vote subgraph…, …gateway…]: one hop from the gateway into the vote subgraph.
    const enteredGateway = services.indexOf(SERVICE_NAMES.gateway);
    assert.ok(enteredGateway > 0, describeSpans(chain));
    assert.ok(
      services.slice(0, enteredGateway).every((service) => service === SERVICE_NAMES.vote),
      `below the gateway everything is the vote subgraph:\n${describeSpans(chain)}`,
    );
    assert.ok(
      services.slice(enteredGateway).every((service) => service === SERVICE_NAMES.gateway),
      `above the vote subgraph everything is the gateway:\n${describeSpans(chain)}`,
    );
    assert.ok(
      chain.some((span) => span.name === SPAN_NAMES.castVote),
      '`vote.cast` is an ancestor of `send votes`',
    );
    const voteServer = chain.findLast((span) => span.service === SERVICE_NAMES.vote);
    assert.equal(voteServer?.kind, SPAN_KIND.server, 'the vote subgraph span under the gateway is its HTTP server span');

    // x-request-id: the client's id reaches the vote subgraph's server span.
    assert.deepEqual(root.attributes[ATTR.HTTP_REQUEST_ID], [requestId]);
    assert.deepEqual(voteServer?.attributes[ATTR.HTTP_REQUEST_ID], [requestId]);

    // GraphQL semantic conventions on both sides.
    assert.ok(
      trace.some(
        (span) =>
          span.service === SERVICE_NAMES.gateway &&
          span.attributes[ATTR.GRAPHQL_OPERATION_NAME] === 'CastVote' &&
          span.attributes[ATTR.GRAPHQL_OPERATION_TYPE] === 'mutation',
      ),
      `a gateway span names the operation:\n${describeSpans(trace)}`,
    );
    const subgraphOperation = trace.find((span) => span.service === SERVICE_NAMES.vote && span.attributes[ATTR.GRAPHQL_OPERATION_TYPE] === 'mutation');
    assert.ok(subgraphOperation, 'the vote subgraph has a GraphQL operation span');
    assert.match(String(subgraphOperation.attributes[ATTR.GRAPHQL_OPERATION_NAME]), /^CastVote/);

    // Messaging semantic conventions on the stream producer span.
    assert.equal(send.kind, SPAN_KIND.producer);
    assert.equal(send.attributes[ATTR.MESSAGING_SYSTEM], 'redis');
    assert.equal(send.attributes[ATTR.MESSAGING_DESTINATION_NAME], VOTES_DESTINATION);
    assert.equal(send.attributes[ATTR.MESSAGING_OPERATION_TYPE], 'send');
    assert.match(String(send.attributes[ATTR.MESSAGING_MESSAGE_ID]), /^\d+-\d+$/);
    // The PENDING receipt's bus PUBLISH is a producer span in the same trace.
    const busSend = await receiver.waitFor(
      (spans) => spans.find((span) => span.traceId === vote.traceId && span.service === SERVICE_NAMES.vote && span.name === SPAN_NAMES.busSend),
      'the vote subgraph `send bus` span in the client trace',
    );
    assert.equal(busSend.kind, SPAN_KIND.producer);
    assert.equal(busSend.attributes[ATTR.MESSAGING_OPERATION_TYPE], 'send');
    assert.match(String(busSend.attributes[ATTR.MESSAGING_DESTINATION_NAME]), /bus:receipt$/);
    // No voter id, token or variable value on any span of the trace.
    const leaked = trace.filter((span) => JSON.stringify(span.attributes).includes(voterToken));
    assert.deepEqual(leaked, []);
  });

  it('the worker batch that applied the vote links to the stream entry context', async () => {
    const send = receiver.spans.find((span) => span.traceId === vote.traceId && span.name === SPAN_NAMES.votesSend);
    assert.ok(send);
    const batch = await receiver.waitFor(
      (spans) =>
        spans.find(
          (span) =>
            span.service === SERVICE_NAMES.worker && span.name === SPAN_NAMES.tallyApplyBatch && span.links.some((link) => link.traceId === vote.traceId),
        ),
      'a worker batch span linked to the vote',
    );
    assert.equal(batch.scope, TRACER_NAMES.worker);
    assert.deepEqual(
      batch.links.filter((link) => link.traceId === vote.traceId).map((link) => link.spanId),
      [send.spanId],
      'the link points at the `send votes` span whose context the stream entry carried',
    );
    // The batch's SQL runs inside it.
    const sql = receiver.spans.filter((span) => span.traceId === batch.traceId && span.parentSpanId === batch.spanId && span.name.startsWith('pg.query'));
    assert.ok(sql.length > 0, 'pg spans are children of the batch span');
  });

  it('the tally push continues the batch trace through the result subgraph to the gateway fan-out', async () => {
    await live.waitForEvent((event) => event.data?.pollResults.totalVotes === 1);
    const batch = receiver.spans.find((span) => span.name === SPAN_NAMES.tallyApplyBatch && span.links.some((link) => link.traceId === vote.traceId));
    assert.ok(batch);
    const fanout = await receiver.waitFor(
      (spans) => spans.find((span) => span.traceId === batch.traceId && span.name === SPAN_NAMES.subscriptionFanout),
      'the gateway fan-out span in the batch trace',
    );
    // Each process exports on its own schedule: wait until every ancestor of the fan-out arrived.
    const chain = await receiver.waitFor((spans) => {
      const found = ancestry(spans, fanout);
      return found.at(-1)?.parentSpanId === '' ? found : undefined;
    }, 'every ancestor of the fan-out span, up to its root');
    assert.deepEqual(
      chain.map((span) => `${span.service} ${span.name}`),
      [
        `${SERVICE_NAMES.gateway} ${SPAN_NAMES.subscriptionFanout}`,
        `${SERVICE_NAMES.result} ${SPAN_NAMES.subscriptionEvent}`,
        `${SERVICE_NAMES.worker} ${SPAN_NAMES.tallyApplyBatch}`,
      ],
      describeSpans(chain),
    );
    const [, pushed] = chain;
    assert.equal(pushed?.attributes[ATTR.GRAPHQL_OPERATION_TYPE], 'subscription');
    assert.equal(pushed?.attributes[ATTR.POLL_ID], poll.id);
    assert.equal(fanout.attributes[ATTR.SUBGRAPH_NAME], 'result');
    assert.equal(fanout.attributes[ATTR.SUBSCRIPTION_MESSAGES], 1);
    // The event's entity fetch (option labels from the vote subgraph) runs inside the fan-out.
    const fetched = receiver.spans.filter((span) => span.traceId === batch.traceId && span.service === SERVICE_NAMES.vote && span.kind === SPAN_KIND.server);
    assert.ok(
      fetched.some((span) => ancestry(receiver.spans, span).includes(fanout)),
      `the vote subgraph's entity fetch is a descendant of the fan-out:\n${describeSpans(receiver.spans.filter((span) => span.traceId === batch.traceId))}`,
    );
    // The worker's TallyService receives the batch's tally message from the bus inside the batch trace.
    const processed = await receiver.waitFor(
      (spans) => spans.find((span) => span.traceId === batch.traceId && span.name === SPAN_NAMES.busProcess),
      'the `process bus` span of the tally message in the batch trace',
    );
    assert.equal(processed.service, SERVICE_NAMES.worker);
    assert.equal(processed.kind, SPAN_KIND.consumer);
    assert.equal(processed.parentSpanId, batch.spanId);
    assert.equal(processed.attributes[ATTR.POLL_ID], poll.id);
    // The client never sees the telemetry extensions.
    assert.ok(
      live.events.every((event) => !('extensions' in event)),
      JSON.stringify(live.events),
    );
  });

  it('gRPC hops (result → worker TallyService) carry rpc.* attributes inside the caller trace', async () => {
    const read = clientTrace();
    await post(
      stack.gatewayUrl,
      { query: `query PollResults($id: ID!) { poll(id: $id) { results { totalVotes } } }`, operationName: 'PollResults', variables: { id: poll.id } },
      { traceparent: read.traceparent },
    );
    const [clientSpan, serverSpan] = await receiver.waitFor((spans) => {
      const grpc = spans.filter((span) => span.traceId === read.traceId && span.attributes[ATTR.RPC_SYSTEM] === 'grpc');
      const callee = grpc.find((span) => span.kind === SPAN_KIND.server);
      const caller = grpc.find((span) => span.kind === SPAN_KIND.client && span.spanId === callee?.parentSpanId);
      return caller && callee ? ([caller, callee] as const) : undefined;
    }, 'the GetResults client and server spans in the query trace');
    assert.equal(clientSpan.service, SERVICE_NAMES.result);
    assert.equal(serverSpan.service, SERVICE_NAMES.worker);
    for (const span of [clientSpan, serverSpan]) {
      assert.equal(span.attributes[ATTR.RPC_SERVICE], 'votemesh.tally.v1.TallyService');
      assert.equal(span.attributes[ATTR.RPC_METHOD], 'GetResults');
      assert.equal(span.attributes[ATTR.RPC_GRPC_STATUS_CODE], 0);
    }
    // …and the result subgraph's part hangs off the gateway's: one connected trace.
    const chain = ancestry(receiver.spans, clientSpan);
    assert.equal(chain.at(-1)?.service, SERVICE_NAMES.gateway, describeSpans(chain));
    assert.equal(chain.at(-1)?.parentSpanId, read.spanId);
  });

  it("the vote's trace holds no AuditIngest stream span: the shared stream is the root of its own trace", async () => {
    const isIngest = (span: ReceivedSpan): boolean => span.name.startsWith('grpc.votemesh.audit.v1.AuditIngest/');
    // The vote subgraph's call carrying the vote's `vote.accepted` event ends at its next rotation.
    const calls = await receiver.waitFor((spans) => {
      const found = spans.filter((span) => span.service === SERVICE_NAMES.vote && isIngest(span) && span.kind === SPAN_KIND.client);
      return found.length > 0 ? found : undefined;
    }, 'an AuditIngest client span of the vote subgraph');
    for (const call of calls) assert.equal(call.parentSpanId, '', `the stream span is a root:\n${describeSpans(calls)}`);
    const inVote = receiver.spans.filter((span) => span.traceId === vote.traceId && isIngest(span));
    assert.deepEqual(inVote, [], `no audit stream span in the vote's trace:\n${describeSpans(inVote)}`);
  });

  describe("a client subscription's trace holds the gateway's start span, which the upstream subscription's own trace links to and which reaches into the subgraph", () => {
    /** One graphql-ws client of the gateway, with `connection_init` payload `init`. */
    function gatewaySocket(init: Record<string, unknown>): WsClient {
      return createWsClient({ url: `${stack.gatewayUrl.replace(/^http/, 'ws')}/graphql`, lazy: true, retryAttempts: 0, connectionParams: init });
    }

    /** Runs one subscription until `done(event)` holds (or it completes), then stops it: its upstream closes and its span ends. */
    async function subscribeUntil(
      socket: WsClient,
      payload: { query: string; variables: Record<string, unknown>; extensions?: Record<string, unknown> },
      done: (event: { data?: unknown }) => boolean,
    ): Promise<void> {
      let stop: (() => void) | undefined;
      await new Promise<void>((resolve, reject) => {
        stop = socket.subscribe(payload, {
          next: (event) => {
            if (event.errors) reject(new Error(JSON.stringify(event.errors)));
            else if (done(event)) resolve();
          },
          error: reject,
          complete: resolve,
        });
      });
      stop?.();
      await socket.dispose();
    }

    /**
     * The gateway's start span of the subscription under `client`'s span, the gateway's upstream
     * span that links to it (the root of its own trace: the upstream is shared, and outlives the
     * client that opened it) and the subgraph's execution span directly under that.
     */
    async function upstreamAndSubgraphSpans(
      client: ClientTrace,
      subgraph: string,
    ): Promise<{ start: ReceivedSpan; upstream: ReceivedSpan; execution: ReceivedSpan; trace: ReceivedSpan[] }> {
      return receiver.waitFor((spans) => {
        const start = spans.find(
          (span) =>
            span.service === SERVICE_NAMES.gateway &&
            span.name === SPAN_NAMES.subscriptionStart &&
            span.traceId === client.traceId &&
            span.parentSpanId === client.spanId,
        );
        const upstream = spans.find(
          (span) =>
            span.service === SERVICE_NAMES.gateway &&
            span.name === SPAN_NAMES.upstreamSubscribe &&
            span.links.some((link) => link.traceId === client.traceId && link.spanId === start?.spanId),
        );
        const trace = spans.filter((span) => span.traceId === upstream?.traceId);
        const execution = trace.find((span) => span.service === subgraph && span.name.startsWith('subscription ') && span.parentSpanId === upstream?.spanId);
        return start && upstream && execution ? { start, upstream, execution, trace } : undefined;
      }, `the gateway's ${SPAN_NAMES.subscriptionStart} span under ${client.spanId}, the ${SPAN_NAMES.upstreamSubscribe} span linked to it and the ${subgraph} subscription span under that`);
    }

    it('pollResults with the traceparent in connection_init: gateway start span ⇢ upstream span (linked) → result subgraph', async () => {
      const subscriber = clientTrace();
      // A poll of its own: a subscription sharing an existing upstream opens none (deduplication).
      const watched = await createOpenPoll(client, adminToken, ['Yes', 'No'], 'Traced subscription?');
      await subscribeUntil(
        gatewaySocket({ traceparent: subscriber.traceparent }),
        { query: 'subscription TracedResults($pollId: ID!) { pollResults(pollId: $pollId) { totalVotes } }', variables: { pollId: watched.id } },
        () => true,
      );
      const { start, upstream, execution, trace } = await upstreamAndSubgraphSpans(subscriber, SERVICE_NAMES.result);
      assert.equal(start.kind, SPAN_KIND.server);
      assert.equal(start.attributes[ATTR.SUBSCRIPTION_OUTCOME], 'subscribed');
      assert.equal(start.attributes[ATTR.SUBSCRIPTION_UPSTREAM], 'opened');
      assert.equal(upstream.parentSpanId, '', 'the upstream span is the root of its own trace');
      assert.notEqual(upstream.traceId, subscriber.traceId);
      assert.deepEqual(
        receiver.spans.filter((span) => span.traceId === subscriber.traceId).map((span) => span.name),
        [SPAN_NAMES.subscriptionStart],
        "only the gateway's start is in the client's trace, nothing of the shared upstream",
      );
      assert.equal(upstream.kind, SPAN_KIND.client);
      assert.equal(upstream.attributes[ATTR.SUBGRAPH_NAME], 'result');
      assert.equal(upstream.attributes[ATTR.GRAPHQL_OPERATION_TYPE], 'subscription');
      assert.match(String(upstream.attributes[ATTR.GRAPHQL_OPERATION_NAME]), /^TracedResults__result__\d+$/);
      assert.equal(execution.name, `subscription ${String(upstream.attributes[ATTR.GRAPHQL_OPERATION_NAME])}`);
      assert.equal(execution.attributes[ATTR.GRAPHQL_OPERATION_TYPE], 'subscription');
      // The subgraph's parse and validate of the upstream operation are in the trace too.
      const setup = trace.filter((span) => span.service === SERVICE_NAMES.result && span.parentSpanId === upstream.spanId).map((span) => span.name);
      assert.ok(setup.includes('graphql.parse') && setup.includes('graphql.validate'), setup.join(', '));
    });

    it("voteReceipt with the traceparent in the subscribe message's extensions: gateway start span ⇢ upstream span (linked) → vote subgraph", async () => {
      const subscriber = clientTrace();
      const connection = clientTrace();
      await subscribeUntil(
        gatewaySocket({ authorization: `Bearer ${voterToken}`, traceparent: connection.traceparent }),
        {
          query: 'subscription TracedReceipt($id: ID!) { voteReceipt(id: $id) { status } }',
          variables: { id: receiptId },
          extensions: { traceparent: subscriber.traceparent },
        },
        (event) => (event.data as { voteReceipt?: { status?: string } } | undefined)?.voteReceipt?.status === 'COUNTED',
      );
      const { upstream, execution } = await upstreamAndSubgraphSpans(subscriber, SERVICE_NAMES.vote);
      assert.equal(upstream.parentSpanId, '', "the operation's extensions win over connection_init, as a link");
      assert.equal(upstream.attributes[ATTR.SUBGRAPH_NAME], 'vote');
      assert.match(execution.name, /^subscription TracedReceipt__vote__\d+$/);
      assert.ok(!receiver.spans.some((span) => span.traceId === connection.traceId), 'nothing joined the connection-level trace');
    });
  });

  it('the audit subgraph appends each batch in an `audit.append_batch` span with its SQL inside', async () => {
    const append = await receiver.waitFor(
      (spans) =>
        spans.find(
          (span) =>
            span.service === SERVICE_NAMES.audit &&
            span.name === SPAN_NAMES.auditAppendBatch &&
            spans.some((child) => child.parentSpanId === span.spanId && child.name.startsWith('pg.query')),
        ),
      'an audit append batch span with pg spans under it',
    );
    assert.equal(append.parentSpanId, '', 'a batch mixes senders: its own trace');
    assert.ok(Number(append.attributes[ATTR.BATCH_SIZE]) >= 1);
    assert.ok(Number(append.attributes[ATTR.AUDIT_APPENDED]) <= Number(append.attributes[ATTR.BATCH_SIZE]));
  });

  it('every export was valid OTLP/JSON', () => {
    assert.deepEqual(receiver.rejected, []);
  });
});
