// One suite over every transport (graphql-ws, SSE, multipart): cross-subgraph resolution per event,
// entity-fetch failures, invalid documents and auth refusals behave the same everywhere.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { TRANSPORTS, type TestStream } from './fixtures/subscriptions/test-clients.ts';

const TICKS = 'subscription Ticks($room: ID!) { ticks(room: $room) { n room { id name } } }';

for (const transport of TRANSPORTS) {
  describe(`subscriptions over ${transport.name}`, () => {
    let harness: Harness;
    const urls = () => ({ http: harness.url, ws: harness.wsUrl });
    /** Opens a subscription and waits until the subgraph holds it, so a publish reaches it. */
    const subscribe = async (room: string, query = TICKS, token?: string): Promise<TestStream> => {
      const before = harness.counter.active(room);
      const stream = await transport.open(urls(), { query, variables: { room } }, token);
      await waitFor(() => harness.counter.active(room) > before || stream.ended(), { what: `the subgraph subscription for ${room}` });
      return stream;
    };

    before(async () => {
      harness = await startHarness();
    });
    after(() => harness.close());

    describe('events', () => {
      it('resolves fields owned by another subgraph for every event', async () => {
        const stream = await subscribe('r1');
        harness.counter.publish('r1', { n: 1 });
        harness.counter.publish('r1', { n: 2 });
        const results = await stream.waitForResults(2);
        assert.deepEqual(results, [
          { data: { ticks: { n: 1, room: { id: 'r1', name: 'Room r1' } } } },
          { data: { ticks: { n: 2, room: { id: 'r1', name: 'Room r1' } } } },
        ]);
        await stream.stop();
      });

      it('subscribes to a root field selected through fragments', async () => {
        const spread = await subscribe('r7', 'subscription($room: ID!) { ...Root } fragment Root on Subscription { ticks(room: $room) { n } }');
        const inline = await subscribe('r7', 'subscription($room: ID!) { ... on Subscription { ticks(room: $room) { room { name } } } }');
        harness.counter.publish('r7', { n: 1 });
        assert.deepEqual(await spread.waitForResults(1), [{ data: { ticks: { n: 1 } } }]);
        assert.deepEqual(await inline.waitForResults(1), [{ data: { ticks: { room: { name: 'Room r7' } } } }]);
        await Promise.all([spread.stop(), inline.stop()]);
      });

      it('delivers data with errors when an entity fetch fails, and goes on', async () => {
        const stream = await subscribe('r2');
        harness.rooms.failing = true;
        harness.counter.publish('r2', { n: 1 });
        const [failed] = await stream.waitForResults(1);
        harness.rooms.failing = false;
        assert.deepEqual(failed?.data, { ticks: { n: 1, room: { id: 'r2', name: null } } });
        assert.equal(failed?.errors?.length, 1);
        assert.equal(failed?.errors?.[0]?.message, 'rooms database unavailable');
        assert.equal(failed?.errors?.[0]?.extensions?.['serviceName'], 'rooms');
        harness.counter.publish('r2', { n: 2 });
        const results = await stream.waitForResults(2);
        assert.deepEqual(results[1], { data: { ticks: { n: 2, room: { id: 'r2', name: 'Room r2' } } } });
        assert.equal(stream.ended(), false);
        await stream.stop();
      });

      it('forwards the identity to the subgraph and to entity fetches for a non-public subscription', async () => {
        const token = await harness.token({ subject: `voter-${transport.name}`, role: 'voter' });
        const stream = await subscribe('r3', 'subscription { secretTicks(room: "r3") { n viewer room { name } } }', token);
        harness.rooms.identitiesSeen.length = 0;
        harness.counter.publish('r3', { n: 7 });
        const [result] = await stream.waitForResults(1);
        assert.deepEqual(result, { data: { secretTicks: { n: 7, viewer: `voter-${transport.name}`, room: { name: 'Room r3' } } } });
        assert.deepEqual(harness.rooms.identitiesSeen, [{ subject: `voter-${transport.name}`, role: 'voter' }]);
        await stream.stop();
      });

      it('does not forward any identity for a public subscription', async () => {
        const token = await harness.token({ subject: 'someone', role: 'voter' });
        const stream = await subscribe('r4', 'subscription { ticks(room: "r4") { n viewer } }', token);
        harness.counter.publish('r4', { n: 1 });
        const [result] = await stream.waitForResults(1);
        assert.deepEqual(result, { data: { ticks: { n: 1, viewer: null } } });
        await stream.stop();
      });
    });

    describe('refusals', () => {
      // The GraphQL spec forbids @skip/@include on a subscription's top level; graphql-js 17's words.
      const conditional = 'Anonymous Subscription must not use `@skip` or `@include` directives in the top level selection.';
      const cases: { name: string; query: string; variables?: Record<string, unknown>; as?: 'voter' | 'admin'; code: string; message?: string }[] = [
        { name: 'syntax error', query: 'subscription { ticks(room: "x") { n }', code: 'GRAPHQL_PARSE_FAILED' },
        { name: 'unknown field', query: 'subscription { ticks(room: "x") { nope } }', code: 'GRAPHQL_VALIDATION_FAILED' },
        { name: 'two root fields', query: 'subscription { ticks(room: "x") { n } secretTicks(room: "x") { n } }', code: 'GRAPHQL_VALIDATION_FAILED' },
        { name: 'missing variable', query: TICKS, variables: {}, code: 'BAD_USER_INPUT' },
        { name: 'variable of the wrong type', query: TICKS, variables: { room: { id: 1 } }, code: 'BAD_USER_INPUT' },
        { name: 'unknown operation name', query: 'subscription A { ticks(room: "x") { n } }', variables: {}, code: 'GRAPHQL_VALIDATION_FAILED' },
        {
          // graphql-js 16's validation throws on this one: it ended the process over graphql-ws, then
          // answered the throw's words ("… was not provided a runtime value").
          name: 'root field under @include with a variable',
          query: 'subscription ($on: Boolean = true) { ticks(room: "x") @include(if: $on) { n } }',
          variables: {},
          code: 'GRAPHQL_VALIDATION_FAILED',
          message: conditional,
        },
        {
          // graphql-js 16 let this through with no root field: INTERNAL "did not plan to a subscription fetch".
          name: 'root field under @skip(if: true)',
          query: 'subscription { ticks(room: "x") @skip(if: true) { n } }',
          code: 'GRAPHQL_VALIDATION_FAILED',
          message: conditional,
        },
        {
          name: 'root field under @include in a spread fragment',
          query: 'subscription Named { ...Root } fragment Root on Subscription { ticks(room: "x") @include(if: true) { n } }',
          code: 'GRAPHQL_VALIDATION_FAILED',
          message: 'Subscription "Named" must not use `@skip` or `@include` directives in the top level selection.',
        },
        {
          name: 'only __typename',
          query: 'subscription { __typename }',
          code: 'GRAPHQL_VALIDATION_FAILED',
          message: 'Anonymous Subscription must not select an introspection top level field.',
        },
        { name: '@authenticated field without a token', query: 'subscription { secretTicks(room: "x") { n } }', code: 'UNAUTHENTICATED' },
        { name: 'admin-only field as a voter', query: 'subscription { adminTicks(room: "x") { n } }', as: 'voter', code: 'FORBIDDEN' },
        { name: 'query without a query executor', query: '{ room(id: "x") { name } }', code: 'BAD_USER_INPUT' },
      ];
      for (const testCase of cases) {
        it(`refuses ${testCase.name} with ${testCase.code}`, async () => {
          const token = testCase.as ? await harness.token({ subject: 'refused', role: testCase.as }) : undefined;
          const operation = {
            query: testCase.query,
            variables: testCase.variables ?? { room: 'x' },
            ...(testCase.name === 'unknown operation name' ? { operationName: 'B' } : {}),
          };
          const stream = await transport.open(urls(), operation, token);
          const [result] = await stream.waitForResults(1);
          await stream.waitForEnd();
          assert.equal(result?.data, undefined);
          assert.equal(result?.errors?.[0]?.extensions?.['code'], testCase.code, JSON.stringify(result));
          if (testCase.message !== undefined) assert.equal(result?.errors?.[0]?.message, testCase.message);
          assert.equal(harness.counter.active('x'), 0);
        });
      }

      it('lets an admin subscribe to an admin-only field', async () => {
        const token = await harness.token({ subject: 'root', role: 'admin' });
        const stream = await subscribe('r5', 'subscription { adminTicks(room: "r5") { n viewer } }', token);
        harness.counter.publish('r5', { n: 3 });
        assert.deepEqual(await stream.waitForResults(1), [{ data: { adminTicks: { n: 3, viewer: 'root' } } }]);
        await stream.stop();
      });

      it('passes on a subgraph refusing the subscription as GraphQL errors naming the subgraph', async () => {
        const stream = await transport.open(urls(), { query: 'subscription { guardedTicks(room: "r6") { n } }' });
        const [result] = await stream.waitForResults(1);
        await stream.waitForEnd();
        assert.equal(result?.errors?.[0]?.extensions?.['code'], 'IDENTITY_MISSING');
        assert.equal(result?.errors?.[0]?.extensions?.['serviceName'], 'counter');
      });
    });
  });
}
