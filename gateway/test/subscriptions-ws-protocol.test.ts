// The graphql-transport-ws server, message by message against a real gateway front: connection
// phase, operation phase, then robustness (slow consumers, subgraph restarts, shutdown).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { CloseCode } from '../src/subscriptions/index.ts';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { sseTransport, WsTestClient } from './fixtures/subscriptions/test-clients.ts';

const ticks = (room: string) => ({ query: 'subscription Ticks($room: ID!) { ticks(room: $room) { n } }', variables: { room } });

describe('graphql-transport-ws', () => {
  let harness: Harness;
  const open = async (): Promise<WsTestClient> => WsTestClient.connect(harness.wsUrl);
  const ready = async (payload?: Record<string, unknown>): Promise<WsTestClient> => {
    const client = await open();
    await client.init(payload);
    return client;
  };

  before(async () => {
    harness = await startHarness({ limits: { connectionInitTimeoutMs: 300, maxSubscriptionsPerConnection: 2, maxConnectionsPerClient: 3 } });
  });
  after(() => harness.close());

  describe('connection phase', () => {
    it('closes 4408 when connection_init does not arrive in time', async () => {
      const client = await open();
      const started = Date.now();
      assert.deepEqual(await client.waitForClose(), { code: CloseCode.ConnectionInitialisationTimeout, reason: 'Connection initialisation timeout' });
      assert.ok(Date.now() - started >= 250, 'not before the timeout');
    });

    it('closes 4406 without the graphql-transport-ws subprotocol', async () => {
      const client = await WsTestClient.connect(harness.wsUrl, []);
      assert.equal((await client.waitForClose()).code, CloseCode.SubprotocolNotAcceptable);
    });

    it('survives an invalid frame from a peer it is closing with 4406', async () => {
      const uncaught: unknown[] = [];
      const onUncaught = (error: unknown): void => {
        uncaught.push(error);
      };
      process.on('uncaughtException', onUncaught);
      try {
        const { port } = new URL(harness.wsUrl);
        const peer = net.connect(Number(port), '127.0.0.1');
        const ended = new Promise<void>((resolve) => peer.on('close', () => resolve()));
        peer.on('error', () => {}); // the gateway may reset the connection; that is fine
        let received = '';
        peer.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
        });
        peer.write(
          'GET /graphql HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        await waitFor(() => received.startsWith('HTTP/1.1 101'), { what: 'the upgrade' });
        // An unmasked text frame "hi": a protocol error the server side of `ws` reports as 'error'.
        peer.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
        await ended;
        const client = await ready();
        client.close();
        assert.deepEqual(uncaught, []);
      } finally {
        process.off('uncaughtException', onUncaught);
      }
    });

    it('closes 4429 on a second connection_init', async () => {
      const client = await ready();
      client.send({ type: 'connection_init' });
      assert.equal((await client.waitForClose()).code, CloseCode.TooManyRequests);
    });

    it('closes 4401 on subscribe before connection_ack', async () => {
      const client = await open();
      client.subscribe('1', ticks('c1'));
      assert.deepEqual(await client.waitForClose(), { code: CloseCode.Unauthorized, reason: 'Unauthorized' });
    });

    it('answers ping with pong carrying the same payload', async () => {
      const client = await ready();
      client.send({ type: 'ping', payload: { at: 1 } });
      assert.deepEqual(await client.waitFor((message) => message.type === 'pong', 'pong'), { type: 'pong', payload: { at: 1 } });
      client.close();
    });

    const badMessages: { name: string; message: unknown }[] = [
      { name: 'not JSON', message: '{nope' },
      { name: 'an unknown type', message: { type: 'start' } },
      { name: 'subscribe without id', message: { type: 'subscribe', payload: ticks('x') } },
      { name: 'subscribe without query', message: { id: '1', type: 'subscribe', payload: {} } },
      { name: 'a server-only message', message: { id: '1', type: 'next', payload: {} } },
    ];
    for (const { name, message } of badMessages) {
      it(`closes 4400 on ${name}`, async () => {
        const client = await ready();
        client.send(message);
        assert.equal((await client.waitForClose()).code, CloseCode.BadRequest);
      });
    }

    const badTokens: { name: string; token: (h: Harness) => Promise<string>; code: string }[] = [
      { name: 'a malformed token', token: async () => 'not-a-jwt', code: 'TOKEN_INVALID' },
      { name: 'an expired token', token: (h) => h.token({ subject: 'late', role: 'voter' }, { expiresInSeconds: -60 }), code: 'TOKEN_EXPIRED' },
      { name: 'a token for another audience', token: (h) => h.token({ subject: 'x', role: 'voter' }, { audience: 'elsewhere' }), code: 'TOKEN_WRONG_AUDIENCE' },
    ];
    for (const { name, token, code } of badTokens) {
      it(`closes 4403 for ${name}`, async () => {
        const client = await open();
        client.send({ type: 'connection_init', payload: { authorization: `Bearer ${await token(harness)}` } });
        const closed = await client.waitForClose();
        assert.equal(closed.code, CloseCode.Forbidden);
        assert.match(closed.reason, new RegExp(`^${code}: `));
      });
    }

    it('closes 4403 "Token expired" when the token of an open connection expires', async () => {
      // `exp` has whole-second resolution, so a 1 s token may have only milliseconds left when it is
      // signed: 3 s leaves a busy machine time to subscribe before the expiry this test waits for.
      const token = await harness.token({ subject: 'short-lived', role: 'voter' }, { expiresInSeconds: 3 });
      const client = await ready({ authorization: `Bearer ${token}` });
      client.subscribe('1', ticks('c2'));
      await waitFor(() => harness.counter.active('c2') === 1, { what: 'the subscription' });
      assert.deepEqual(await client.waitForClose(6000), { code: CloseCode.Forbidden, reason: 'Token expired' });
      await waitFor(() => harness.counter.active('c2') === 0, { what: 'the upstream to close' });
    });

    it('refuses more connections per client than the limit with 4429', async () => {
      const token = await harness.token({ subject: 'many-tabs', role: 'voter' });
      const payload = { authorization: `Bearer ${token}` };
      const clients = [await ready(payload), await ready(payload), await ready(payload)];
      const extra = await open();
      extra.send({ type: 'connection_init', payload });
      assert.deepEqual(await extra.waitForClose(), { code: CloseCode.TooManyRequests, reason: 'Too many connections (at most 3 per client)' });
      clients[0]?.close();
      await clients[0]?.waitForClose();
      await waitFor(() => harness.service.stats().connections === 2, { what: 'the slot to be freed' });
      const again = await ready(payload);
      for (const client of [...clients, again]) client.close();
    });
  });

  describe('operation phase', () => {
    it('answers an invalid document with an error message and keeps the socket open', async () => {
      const client = await ready();
      client.subscribe('bad', { query: 'subscription { ticks(room: "o1") { missing } }' });
      const error = await client.waitFor((message) => message.id === 'bad', 'the error');
      assert.equal(error.type, 'error');
      assert.equal((error.payload as { extensions: { code: string } }[])[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED');
      client.subscribe('good', ticks('o1'));
      await waitFor(() => harness.counter.active('o1') === 1, { what: 'the valid subscription' });
      harness.counter.publish('o1', { n: 1 });
      assert.deepEqual(await client.waitFor((message) => message.id === 'good', 'next'), { id: 'good', type: 'next', payload: { data: { ticks: { n: 1 } } } });
      assert.equal(client.closed, undefined);
      client.close();
    });

    it('closes 4409 when an active id is reused', async () => {
      const client = await ready();
      client.subscribe('same', ticks('o2'));
      client.subscribe('same', ticks('o2'));
      assert.equal((await client.waitForClose()).code, CloseCode.SubscriberAlreadyExists);
      await waitFor(() => harness.counter.active('o2') === 0, { what: 'the upstream to close with the socket' });
    });

    it('refuses operations beyond the per-connection limit with TOO_MANY_SUBSCRIPTIONS', async () => {
      const client = await ready();
      client.subscribe('1', ticks('o3'));
      client.subscribe('2', ticks('o3'));
      client.subscribe('3', ticks('o3'));
      const error = await client.waitFor((message) => message.id === '3', 'the refusal');
      assert.equal(error.type, 'error');
      assert.equal((error.payload as { extensions: { code: string } }[])[0]?.extensions.code, 'TOO_MANY_SUBSCRIPTIONS');
      assert.equal(client.closed, undefined);
      client.close();
    });

    it('stops the upstream on complete and lets the id be reused', async () => {
      const client = await ready();
      client.subscribe('1', ticks('o4'));
      await waitFor(() => harness.counter.active('o4') === 1, { what: 'the subscription' });
      client.complete('1');
      await waitFor(() => harness.counter.active('o4') === 0 && harness.service.stats().upstreams.length === 0, { what: 'the upstream to close' });
      client.subscribe('1', ticks('o4'));
      await waitFor(() => harness.counter.active('o4') === 1, { what: 'the id reused' });
      client.close();
    });
  });

  describe('robustness', () => {
    it('keeps subscriptions across a subgraph restart', async () => {
      const client = await ready();
      client.subscribe('1', ticks('u1'));
      await waitFor(() => harness.counter.active('u1') === 1, { what: 'the subscription' });
      harness.counter.publish('u1', { n: 1 });
      await client.waitFor((message) => message.type === 'next', 'the first event');
      await harness.restartCounter();
      await waitFor(() => harness.counter.active('u1') === 1, { what: 'the gateway to resubscribe', timeoutMs: 5000 });
      harness.counter.publish('u1', { n: 2 });
      const second = await client.waitFor(
        (message) => message.type === 'next' && JSON.stringify(message.payload).includes('"n":2'),
        'the event after the restart',
      );
      assert.deepEqual(second.payload, { data: { ticks: { n: 2 } } });
      assert.equal(client.of('1', 'error').length + client.of('1', 'complete').length, 0);
      client.close();
    });
  });
});

describe('graphql-transport-ws under pressure', () => {
  it('drops a slow consumer with 4413 instead of buffering without bound', async () => {
    await using harness = await startHarness({ limits: { maxBufferedBytes: 64 * 1024 } });
    const slow = await WsTestClient.connect(harness.wsUrl);
    await slow.init();
    slow.subscribe('1', { query: 'subscription { ticks(room: "p1") { n blob } }' });
    await waitFor(() => harness.counter.active('p1') === 1, { what: 'the subscription' });
    slow.socket.pause();
    const blob = 'x'.repeat(256 * 1024);
    let n = 0;
    await waitFor(
      async () => {
        harness.counter.publish('p1', { n: (n += 1), blob });
        return (await harness.metric('votemesh_gateway_slow_consumers_dropped_total')) === 1;
      },
      { what: 'the slow consumer to be dropped', timeoutMs: 20_000 },
    );
    await waitFor(() => harness.counter.active('p1') === 0, { what: 'its upstream to close' });
    assert.equal(harness.service.stats().connections, 0);
    slow.socket.resume();
    assert.deepEqual(await slow.waitForClose(10_000), { code: CloseCode.SlowConsumer, reason: 'Slow consumer' });
  });

  it('drops a client that floods pings without reading the pongs with 4413', async () => {
    await using harness = await startHarness({ limits: { maxBufferedBytes: 64 * 1024 } });
    const flooder = await WsTestClient.connect(harness.wsUrl);
    await flooder.init();
    flooder.socket.pause();
    // Every pong echoes its ping's payload: nothing but control traffic, yet it must count too.
    const ping = JSON.stringify({ type: 'ping', payload: { blob: 'x'.repeat(32 * 1024) } });
    await waitFor(
      async () => {
        for (let i = 0; i < 8; i += 1) flooder.send(ping);
        return (await harness.metric('votemesh_gateway_slow_consumers_dropped_total')) === 1;
      },
      { what: 'the flooding client to be dropped', timeoutMs: 20_000 },
    );
    assert.equal(harness.service.stats().connections, 0);
    flooder.socket.resume();
    assert.deepEqual(await flooder.waitForClose(10_000), { code: CloseCode.SlowConsumer, reason: 'Slow consumer' });
  });

  it('ends subscriptions with UPSTREAM_UNAVAILABLE when the subgraph stays down past the reconnect window', async () => {
    await using harness = await startHarness({ limits: { upstreamReconnectWindowMs: 600, upstreamMaxBackoffMs: 100 } });
    const client = await WsTestClient.connect(harness.wsUrl);
    await client.init();
    client.subscribe('1', { query: 'subscription { ticks(room: "g1") { n } }' });
    await waitFor(() => harness.counter.active('g1') === 1, { what: 'the subscription' });
    const stopped = Date.now();
    await harness.stopCounter();
    const error = await client.waitFor((message) => message.id === '1', 'the subscription to end', 5000);
    assert.equal(error.type, 'error');
    assert.equal((error.payload as { extensions: { code: string; serviceName: string } }[])[0]?.extensions.code, 'UPSTREAM_UNAVAILABLE');
    assert.ok(Date.now() - stopped < 3000, 'ends within the bounded window');
    assert.equal(client.closed, undefined);
    assert.deepEqual(harness.service.stats().upstreams, []);
    client.close();
  });

  it('on close() flushes delivered events, then closes every client with 1001', async () => {
    await using harness = await startHarness();
    const clients = [await WsTestClient.connect(harness.wsUrl), await WsTestClient.connect(harness.wsUrl)];
    for (const client of clients) {
      await client.init();
      client.subscribe('1', { query: 'subscription { ticks(room: "s1") { n room { name } } }' });
    }
    await waitFor(() => harness.service.stats().upstreams[0]?.subscribers === 2, { what: 'both subscribers' });
    for (let n = 1; n <= 5; n += 1) harness.counter.publish('s1', { n });
    await waitFor(async () => (await harness.metric('votemesh_gateway_subscription_events_total')) === 5, { what: 'the gateway to receive 5 events' });
    await harness.service.close();
    for (const client of clients) {
      assert.deepEqual(await client.waitForClose(), { code: CloseCode.GoingAway, reason: 'Going away' });
      assert.deepEqual(
        client.of('1', 'next').map((message) => (message.payload as { data: { ticks: { n: number } } }).data.ticks.n),
        [1, 2, 3, 4, 5],
      );
    }
    const late = await WsTestClient.connect(harness.wsUrl).then(
      () => 'connected',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    assert.match(late, /503/);
  });

  it('refuses newcomers (503) from the start of close(), while in-flight events are still flushed', async () => {
    await using harness = await startHarness();
    const client = await WsTestClient.connect(harness.wsUrl);
    await client.init();
    client.subscribe('1', { query: 'subscription { ticks(room: "s2") { n room { name } } }' });
    await waitFor(() => harness.counter.active('s2') === 1, { what: 'the subgraph subscription' });
    let release = (): void => {};
    harness.rooms.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fetchesBefore = harness.rooms.identitiesSeen.length;
    harness.counter.publish('s2', { n: 1 });
    await waitFor(() => harness.rooms.identitiesSeen.length > fetchesBefore, { what: 'the event resolution to be in flight' });

    const closing = harness.service.close();
    try {
      const late = await WsTestClient.connect(harness.wsUrl).then(
        (lateClient) => {
          lateClient.close();
          return 'connected';
        },
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      assert.match(late, /503/, 'a WebSocket upgrade during the flush');
      const stream = await sseTransport.open({ http: harness.url, ws: harness.wsUrl }, { query: 'subscription { ticks(room: "s2") { n } }' });
      assert.ok(stream.ended(), 'an event stream during the flush');
      assert.equal(stream.results[0]?.errors?.[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
    } finally {
      harness.rooms.hold = undefined;
      release();
    }
    await closing;
    assert.deepEqual(await client.waitForClose(), { code: CloseCode.GoingAway, reason: 'Going away' });
    assert.deepEqual(client.of('1', 'next').length, 1, 'the in-flight event was delivered');
  });
});
