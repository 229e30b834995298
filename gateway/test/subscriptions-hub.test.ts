// The hub's bookkeeping on its own, with a connector double in place of subgraph sockets: the
// subscriptions gauge reads subscriptionCount(), so every path that ends a subscriber must count
// it out exactly once, before and after close().
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@votemesh/common/logger';
import { createEventResolver } from '../src/subscriptions/event-resolver.ts';
import { createSubscriptionPlanner, type PlannedSubscription } from '../src/subscriptions/planner.ts';
import { createSubscriptionHub, type SubscriberSink } from '../src/subscriptions/subscription-hub.ts';
import type { UpstreamConnector, UpstreamHandlers } from '../src/subscriptions/upstream.ts';
import { composeSupergraph } from '../src/supergraph/compose.ts';
import { loadSupergraph } from '../src/supergraph/load-supergraph.ts';
import { counterTypeDefs, roomsTypeDefs } from './fixtures/subscriptions/subgraphs.ts';

function startHub() {
  const composed = composeSupergraph([
    { name: 'counter', url: 'http://counter.invalid/graphql', typeDefs: counterTypeDefs },
    { name: 'rooms', url: 'http://rooms.invalid/graphql', typeDefs: roomsTypeDefs },
  ]);
  if (!composed.ok) throw new Error('composition failed');
  const supergraph = loadSupergraph(composed.supergraphSdl);
  const planner = createSubscriptionPlanner({
    supergraphSdl: supergraph.executableSdl,
    getFieldAuth: (typeName, fieldName) => supergraph.policy.getFieldAuth(typeName, fieldName),
  });
  const upstreams: UpstreamHandlers[] = [];
  const connector: UpstreamConnector = {
    subscribe: (_target, _request, handlers) => {
      upstreams.push(handlers);
      return () => {};
    },
    socketCount: () => 0,
    close: async () => {},
  };
  const logger = createLogger({ service: 'gateway-test', level: 'fatal' });
  const hub = createSubscriptionHub({
    connector,
    resolver: createEventResolver({ planner, dataSources: {}, logger }),
    signIdentity: async () => 'identity',
    logger,
    counters: { eventResolved: () => {}, messagesSent: () => {}, tallyDelivered: () => {} },
  });
  const planned = planner.plan('subscription { ticks(room: "g1") { n } }', undefined);
  if (!planned.ok || planned.operation.kind !== 'subscription') throw new Error('planning failed');
  const plan: PlannedSubscription = planned.operation;
  // A sink per subscriber, as each transport operation has its own.
  const sink = (): SubscriberSink => ({ send: () => true, complete: () => {}, error: () => {} });
  const join = () => hub.subscribe({ plan, variables: {}, identity: undefined, sink: sink() });
  return { hub, upstreams, join, subscribe: () => join().unsubscribe };
}

describe('subscription hub count', () => {
  it('stays at zero when a subscriber leaves after close()', () => {
    const { hub, subscribe } = startHub();
    const leave = subscribe();
    assert.equal(hub.subscriptionCount(), 1);
    hub.close();
    assert.equal(hub.subscriptionCount(), 0);
    leave();
    assert.equal(hub.subscriptionCount(), 0);
  });

  it('stays at zero when an upstream that ended just before close() lets its subscribers go', async () => {
    const { hub, upstreams, subscribe } = startHub();
    subscribe();
    subscribe();
    assert.equal(hub.subscriptionCount(), 2);
    upstreams[0]?.complete(); // ends its subscribers once what is being delivered is delivered
    hub.close();
    await new Promise<void>((resolve) => setImmediate(resolve)); // a turn of the loop: the pending end has run
    assert.equal(hub.subscriptionCount(), 0);
  });
});

describe('subscription hub upstreams', () => {
  it('tells each subscriber whether it opened its upstream or joined a running one', () => {
    const { hub, upstreams, join } = startHub();
    const first = join();
    const second = join();
    assert.deepEqual([first.upstream, second.upstream], ['opened', 'joined']);
    assert.equal(upstreams.length, 1);
    first.unsubscribe();
    second.unsubscribe();
    assert.equal(join().upstream, 'opened', 'the last subscriber left: the next one opens a new upstream');
    assert.equal(upstreams.length, 2);
    hub.close();
  });
});
