// The operation metrics' label policy: a client choosing operation names, documents and client-name
// headers cannot add series without bound, crowd established operations out of their labels, or
// count its own document under another operation's name. First the policy alone (a clock of our
// own), then through a real gateway's /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloServer } from '@apollo/server';
import { Registry } from 'prom-client';
import { createLogger } from '@votemesh/common/logger';
import type { GatewayContext } from '../src/gateway-context.ts';
import { createOperationMetrics } from '../src/observability/operation-metrics.ts';
import { createOperationLabels, MISMATCHED_DOCUMENT, OVERFLOW_OPERATION } from '../src/observability/operation-labels.ts';
import { startForeignStack, type ForeignStack } from './helpers/foreign-stack.ts';
import type { TestGateway } from './helpers/test-gateway.ts';

describe('operation labels (the policy)', () => {
  const clock = () => {
    let ms = 0;
    return { now: () => ms, advance: (by: number) => (ms += by) };
  };

  it('labels a name by itself only with the document it was first seen with', () => {
    const labels = createOperationLabels();
    assert.equal(labels.label('PollResults', 'hash-a'), 'PollResults');
    assert.equal(labels.label('PollResults', 'hash-a'), 'PollResults');
    assert.equal(labels.label('PollResults', 'hash-b'), MISMATCHED_DOCUMENT, 'a forged name with another document');
    assert.equal(labels.label(undefined, 'hash-c'), '', 'anonymous');
  });

  it('a flood of new names takes at most the window budget and never evicts or re-pins an established name', () => {
    const time = clock();
    const forgotten: string[] = [];
    const labels = createOperationLabels({ maxNames: 20, maxNewNamesPerWindow: 5, windowMs: 1000, now: time.now, onForget: (name) => forgotten.push(name) });
    assert.equal(labels.label('CastVote', 'real'), 'CastVote');
    const values = new Set<string>();
    for (let window = 0; window < 10; window += 1) {
      for (let i = 0; i < 1000; i += 1) values.add(labels.label(`Junk${window}_${i}`, `junk-${i}`));
      // The real operation keeps being used, so it outlives every window; forging it never works.
      assert.equal(labels.label('CastVote', 'real'), 'CastVote');
      assert.equal(labels.label('CastVote', `junk-${window}`), MISMATCHED_DOCUMENT);
      time.advance(1000);
    }
    assert.ok(!forgotten.includes('CastVote'));
    assert.ok(values.has(OVERFLOW_OPERATION));
    // 5 new names per window (CastVote took one of the first window's), each junk name forgotten
    // after a whole idle window: never more than 11 pinned at once.
    const junk = [...values].filter((value) => value.startsWith('Junk'));
    assert.equal(junk.length, 10 * 5 - 1, 'each window pinned its budget and no more');
    assert.equal(forgotten.length, 4 + 7 * 5, 'the junk of every window but the last two was forgotten');
    assert.equal(labels.label('NewOperation', 'doc'), 'NewOperation', 'a later real operation still gets a label');
  });

  it('never holds more than maxNames, however many windows pass with the budget spent', () => {
    const time = clock();
    const labels = createOperationLabels({ maxNames: 3, maxNewNamesPerWindow: 2, windowMs: 1000, now: time.now });
    const admitted = ['A', 'B', 'C', 'D', 'E'].map((name) => labels.label(name, 'doc'));
    assert.deepEqual(admitted, ['A', 'B', OVERFLOW_OPERATION, OVERFLOW_OPERATION, OVERFLOW_OPERATION]);
    time.advance(1000);
    assert.deepEqual(
      ['A', 'C', 'D'].map((name) => labels.label(name, 'doc')),
      ['A', 'C', OVERFLOW_OPERATION],
    );
    assert.equal(labels.label('B', 'doc'), 'B', 'used in the window that just ended: still pinned, while new names overflow');
  });

  it('moves a name to the document most sent under it in a window: a new version, or the real one after someone took it first', () => {
    const time = clock();
    const forgotten: string[] = [];
    const labels = createOperationLabels({ windowMs: 1000, now: time.now, onForget: (name) => forgotten.push(name) });
    assert.equal(labels.label('Results', 'v1'), 'Results');
    time.advance(1000);
    assert.equal(labels.label('Results', 'v2'), MISMATCHED_DOCUMENT, 'v1 holds the name for this window');
    time.advance(1000);
    assert.equal(labels.label('Results', 'v2'), 'Results', 'v2 was sent more than v1 last window: the name is its now');
    assert.equal(labels.label('Results', 'v1'), MISMATCHED_DOCUMENT);
    assert.deepEqual(forgotten, [], 'moved, not forgotten: the series goes on');

    // Someone sends `GetPoll` first with a document of their own, then once a window to keep it.
    assert.equal(labels.label('GetPoll', 'squatter'), 'GetPoll');
    for (let i = 0; i < 100; i += 1) assert.equal(labels.label('GetPoll', 'real'), MISMATCHED_DOCUMENT);
    for (let i = 0; i < 30; i += 1) labels.label('GetPoll', `junk-${i}`);
    time.advance(1000);
    assert.equal(labels.label('GetPoll', 'squatter'), MISMATCHED_DOCUMENT, 'the real traffic out-sent it: the squatter lost the name');
    // Sending less than the pinned document does not take the name back.
    for (let i = 0; i < 10; i += 1) assert.equal(labels.label('GetPoll', 'real'), 'GetPoll');
    for (let i = 0; i < 9; i += 1) labels.label('GetPoll', 'squatter');
    time.advance(1000);
    assert.equal(labels.label('GetPoll', 'real'), 'GetPoll', '10 real requests vs 9 squatter ones: the name stays');
  });

  it('forgets a pin idle for a whole window, and every pin after a long quiet spell', () => {
    const time = clock();
    const forgotten: string[] = [];
    const labels = createOperationLabels({ windowMs: 1000, now: time.now, onForget: (name) => forgotten.push(name) });
    assert.equal(labels.label('Results', 'v1'), 'Results');
    time.advance(1000);
    labels.label('Other', 'x');
    assert.deepEqual(forgotten, [], 'used in the window that just ended');
    time.advance(1000);
    labels.label('Other', 'x');
    assert.deepEqual(forgotten, ['Results'], 'idle for a whole window');
    time.advance(10_000);
    labels.label('Third', 'y');
    assert.deepEqual(forgotten, ['Results', 'Other'], 'a long quiet spell forgets every pin');
  });
});

describe('operation metrics in Apollo Server', () => {
  it('removes the series of a forgotten name, and only those', async () => {
    let ms = 0;
    const registry = new Registry();
    const metrics = createOperationMetrics({
      registry,
      logger: createLogger({ service: 'test', level: 'silent' }),
      operationLabels: { windowMs: 1000, now: () => ms },
    });
    const server = new ApolloServer<GatewayContext>({ typeDefs: 'type Query { a: Int }', resolvers: { Query: { a: () => 1 } }, plugins: [metrics.plugin] });
    await server.start();
    try {
      const run = (query: string) => server.executeOperation({ query }, { contextValue: { identity: undefined, requestId: 'r', traceHeaders: {} } });
      await run('query Once { a }');
      await run('query Busy { a }');
      await run('query Busy { nope }');
      ms = 1000;
      await run('query Busy { a }');
      ms = 2000;
      await run('query Busy { a }');
      const text = await registry.metrics();
      assert.doesNotMatch(text, /operation_name="Once"/, 'idle for a window: its counter and histogram series are gone');
      assert.match(text, /votemesh_gateway_operations_total\{operation_type="query",operation_name="Busy",client_name="",outcome="ok"\} 3/);
      assert.match(text, /operation_name="",client_name="",outcome="GRAPHQL_VALIDATION_FAILED"\} 1/, 'an unresolved operation has no name');
    } finally {
      await server.stop();
    }
  });
});

describe('operation metrics through the gateway', () => {
  let stack: ForeignStack;
  let gateway: TestGateway;

  before(async () => {
    stack = await startForeignStack({ AUTH_MODE: 'none', RATE_LIMIT_PER_MINUTE: '0', METRICS_CLIENT_NAMES: 'web' });
    ({ gateway } = stack);
  });
  after(() => stack?.close());

  /** operation_name → summed votemesh_gateway_operations_total over its series. */
  const operationsByName = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const counts = new Map<string, number>();
    for (const [, name, value] of text.matchAll(/^votemesh_gateway_operations_total\{[^}]*operation_name="([^"]*)"[^}]*\} (\d+)$/gm))
      counts.set(name ?? '', (counts.get(name ?? '') ?? 0) + Number(value));
    return counts;
  };

  it('keeps an established name through a flood of random names and forged documents', async () => {
    const real = 'query Top { topProducts(first: 1) { name } }';
    assert.equal((await gateway.graphql({ query: real }, { 'apollographql-client-name': 'web' })).status, 200);
    for (let i = 0; i < 80; i += 1) await gateway.graphql({ query: `query Junk${i}n${Math.random().toString(36).slice(2)} { __typename }` });
    // The same name with another document, and a request operationName naming no operation at all.
    await gateway.graphql({ query: 'query Top { __typename }' });
    await gateway.graphql({ query: '{ __typename }', operationName: 'Top' });
    await gateway.graphql({ query: real }, { 'apollographql-client-name': 'evil-client' });

    const counts = await operationsByName();
    assert.equal(counts.get('Top'), 2, 'both real requests, the forged document not among them');
    assert.equal(counts.get(MISMATCHED_DOCUMENT), 1);
    // The default budget is 50 new names per window (Top took one): the rest of the flood is one
    // overflow series.
    assert.equal([...counts.keys()].filter((name) => name.startsWith('Junk')).length, 49);
    assert.equal(counts.get(OVERFLOW_OPERATION), 80 - 49);
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(text, /votemesh_gateway_operations_total\{operation_type="query",operation_name="Top",client_name="web",outcome="ok"/);
    assert.match(text, /votemesh_gateway_operations_total\{operation_type="query",operation_name="Top",client_name="\(other\)",outcome="ok"/);
    assert.doesNotMatch(text, /evil-client/, 'an unlisted client name never becomes a label value');
  });
});
