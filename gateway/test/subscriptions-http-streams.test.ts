// SSE and multipart streams whose request goes away, or whose gateway starts shutting down, while
// the request is still being read and its token verified: nothing may be opened for it afterwards.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { sseTransport, type TestStream } from './fixtures/subscriptions/test-clients.ts';

const TICKS = 'subscription Ticks($room: ID!) { ticks(room: $room) { n } }';

/** Token verifications held at the door until the test lets them through. */
function authGate() {
  const held: (() => void)[] = [];
  let open = false;
  return {
    held,
    before: (): Promise<void> => (open ? Promise.resolve() : new Promise<void>((resolve) => held.push(resolve))),
    release(): void {
      open = true;
      for (const resolve of held.splice(0)) resolve();
    },
  };
}

describe('HTTP subscription streams opened late', () => {
  it('opens nothing for a client that disconnected while its token was verified', async () => {
    const gate = authGate();
    await using harness: Harness = await startHarness({ limits: { maxConnectionsPerClient: 1 }, beforeAuthenticate: gate.before });
    const token = await harness.token({ subject: 'carol', role: 'voter' });
    const { port } = new URL(harness.url);
    const peer = net.connect(Number(port), '127.0.0.1');
    peer.on('error', () => {});
    const query = new URLSearchParams({ query: TICKS, variables: JSON.stringify({ room: 'h1' }) });
    peer.write(`GET /graphql?${query} HTTP/1.1\r\nHost: gateway\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await waitFor(() => gate.held.length === 1, { what: 'the token verification to start' });
    peer.destroy();
    await waitFor(async () => (await harness.httpConnections()) === 0, { what: 'the gateway to see the client go' });
    gate.release();

    // The client's one slot is free: before the fix the abandoned stream held it until token expiry.
    let stream: TestStream | undefined;
    await waitFor(
      async () => {
        const attempt = await sseTransport.open({ http: harness.url, ws: harness.wsUrl }, { query: TICKS, variables: { room: 'h2' } }, token);
        if (!attempt.ended()) return (stream = attempt);
        return false;
      },
      { what: 'a new stream for the same client', timeoutMs: 3000 },
    );
    await waitFor(() => harness.counter.active('h2') === 1, { what: 'the new subgraph subscription' });
    assert.equal(harness.service.stats().connections, 1);
    assert.equal(harness.service.stats().subscriptions, 1);
    assert.equal(harness.counter.active('h1'), 0, 'no subgraph subscription for the client that left');
    await stream?.stop();
  });

  it('refuses a request whose token verification ends after shutdown began', async () => {
    const gate = authGate();
    await using harness: Harness = await startHarness({ beforeAuthenticate: gate.before });
    const opening = sseTransport.open({ http: harness.url, ws: harness.wsUrl }, { query: TICKS, variables: { room: 'h3' } });
    await waitFor(() => gate.held.length === 1, { what: 'the token verification to start' });
    await harness.service.close();
    gate.release();
    const stream = await opening;
    assert.ok(stream.ended(), 'no stream is opened after close(): nobody would ever end it');
    assert.equal(stream.results[0]?.errors?.[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
    assert.equal(harness.service.stats().connections, 0);
  });
});
