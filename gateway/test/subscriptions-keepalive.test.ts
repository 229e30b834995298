// Keep-alives of long-lived subscription connections against a real gateway front: a WebSocket that
// answers pings stays, one that does not is cut, connections that arrive together are pinged at
// different times (a ping to every socket on one tick would stall live events), and an idle
// SSE stream gets heartbeats.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import WebSocket from 'ws';
import { firstKeepAliveAt, housekeepingTickMs, KEEPALIVE_TICK_MS } from '../src/subscriptions/keepalive.ts';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';

const KEEPALIVE_MS = 300;

describe('keep-alive schedule', () => {
  it('draws the first keep-alive from the second half of the interval', () => {
    assert.equal(
      firstKeepAliveAt(1000, 15_000, () => 0),
      8500,
    );
    assert.equal(
      firstKeepAliveAt(1000, 15_000, () => 0.999_999),
      16_000,
    );
    assert.equal(
      firstKeepAliveAt(1000, 15_000, () => 0.5),
      12_250,
    );
  });

  it('ticks at most every KEEPALIVE_TICK_MS and never slower than the finest deadline', () => {
    assert.equal(housekeepingTickMs(15_000 / 20, 3000 / 4), KEEPALIVE_TICK_MS);
    assert.equal(housekeepingTickMs(300 / 20, 3000 / 4), 15);
    assert.equal(housekeepingTickMs(1), 10);
  });
});

describe('keep-alive over real connections', () => {
  let harness: Harness;
  const sockets: WebSocket[] = [];

  /** A graphql-transport-ws connection past connection_ack; `autoPong: false` never answers pings. */
  const connect = async (autoPong = true): Promise<{ socket: WebSocket; pings: number[]; closed: () => number | undefined }> => {
    const socket = new WebSocket(harness.wsUrl, ['graphql-transport-ws'], { perMessageDeflate: false, autoPong });
    sockets.push(socket);
    const pings: number[] = [];
    let closeCode: number | undefined;
    socket.on('ping', () => pings.push(Date.now()));
    socket.on('close', (code) => {
      closeCode = code;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const acked = new Promise<void>((resolve) => socket.once('message', () => resolve()));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await acked;
    return { socket, pings, closed: () => closeCode };
  };

  before(async () => {
    harness = await startHarness({ limits: { keepAliveMs: KEEPALIVE_MS, maxConnectionsPerClient: 100 } });
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    await harness.close();
  });

  it('pings a WebSocket that answers, and keeps it open', async () => {
    const client = await connect();
    await waitFor(() => client.pings.length >= 3, { what: 'three pings', timeoutMs: 5000 });
    assert.equal(client.closed(), undefined);
    assert.equal(client.socket.readyState, WebSocket.OPEN);
  });

  it('cuts a WebSocket that does not answer the previous ping by the next one', async () => {
    const client = await connect(false);
    const code = await waitFor(client.closed, { what: 'the server cutting the silent socket', timeoutMs: 5000 });
    assert.equal(code, 1006, 'terminated without a close frame');
    assert.ok(client.pings.length >= 1, 'it was pinged before being cut');
  });

  it('spreads the first pings of connections that arrived together', async () => {
    const clients = await Promise.all(Array.from({ length: 30 }, () => connect()));
    await waitFor(() => clients.every((client) => client.pings.length >= 1), { what: 'a first ping on every socket', timeoutMs: 5000 });
    const firsts = clients.map((client) => client.pings[0] ?? 0);
    // Uniform over half an interval (150 ms): 30 draws all within 75 ms has probability ~1e-7.
    assert.ok(Math.max(...firsts) - Math.min(...firsts) >= KEEPALIVE_MS / 4, `first pings within ${Math.max(...firsts) - Math.min(...firsts)} ms`);
  });

  it('sends heartbeats on an idle SSE stream', async () => {
    const abort = new AbortController();
    const response = await fetch(harness.url, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'subscription { ticks(room: "keepalive") { n } }' }),
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body?.getReader();
    assert.ok(reader);
    let text = '';
    const decoder = new TextDecoder();
    try {
      await waitFor(
        async () => {
          const { value } = await reader.read();
          text += decoder.decode(value, { stream: true });
          // The stream opens with one comment (it flushes the headers); then come the heartbeats.
          return (text.match(/^:\n\n/gm) ?? []).length >= 3;
        },
        { what: 'two SSE heartbeat comments after the opening one', timeoutMs: 5000 },
      );
    } finally {
      abort.abort();
    }
  });
});
