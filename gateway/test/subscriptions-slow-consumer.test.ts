// The slow-consumer limit (close 4413) at its boundary, on the WebSocket adapter alone. A real TCP
// socket hides how much is unsent behind the kernel's buffers, so the adapter gets a socket whose
// writes stop completing on demand: from then on every frame waits in its buffer (`writableLength`),
// byte for byte. Pongs are the messages: their size is exactly what the ping carried.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createClientLimiter } from '../src/subscriptions/client-limiter.ts';
import type { OperationStarter } from '../src/subscriptions/operations.ts';
import { CloseCode, resolveLimits } from '../src/subscriptions/options.ts';
import { createWsAdapter } from '../src/subscriptions/ws-adapter.ts';

/** A socket for `ws` whose writes complete until `stall()`, then never: what is written stays buffered. */
class StallingSocket extends Duplex {
  /** Every chunk written, in order (the 101 response first, then frames), sent or still buffered. */
  readonly written: Buffer[] = [];
  private stalled = false;
  stall(): void {
    this.stalled = true;
  }
  override write(chunk: Buffer | string, ...rest: unknown[]): boolean {
    this.written.push(Buffer.from(chunk));
    return (super.write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  }
  override _read(): void {}
  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (!this.stalled) done();
  }
  // What `ws` calls on a net.Socket.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
}

/** A client frame: text, masked (with a zero key, so the payload stays as it is). */
function clientTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 65_536);
  const header =
    payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

/** The server's frames in `chunks` (unmasked, header and payload may be written apart), after the 101 response. */
function serverFrames(chunks: readonly Buffer[]): { opcode: number; payload: Buffer }[] {
  const bytes = Buffer.concat(chunks.filter((chunk) => !chunk.toString('latin1').startsWith('HTTP/1.1')));
  const frames: { opcode: number; payload: Buffer }[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const short = (bytes[offset + 1] ?? 0) & 0x7f;
    assert.ok(short < 127, 'no 64-bit lengths here');
    const [length, start] = short === 126 ? [bytes.readUInt16BE(offset + 2), offset + 4] : [short, offset + 2];
    frames.push({ opcode: (bytes[offset] ?? 0) & 0x0f, payload: bytes.subarray(start, start + length) });
    offset = start + length;
  }
  return frames;
}

const serverTexts = (chunks: readonly Buffer[]): string[] =>
  serverFrames(chunks)
    .filter((frame) => frame.opcode === 1)
    .map((frame) => frame.payload.toString());

function upgradeRequest(): IncomingMessage {
  return {
    method: 'GET',
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'graphql-transport-ws',
    },
  } as unknown as IncomingMessage;
}

/** A pong frame of exactly `bytes` (2-byte header, so 2 < bytes < 128): the ping's payload is echoed. */
function pingForPongOf(bytes: number): string {
  const empty = JSON.stringify({ type: 'pong', payload: { p: '' } }).length + 2;
  assert.ok(bytes >= empty && bytes < 128);
  return JSON.stringify({ type: 'ping', payload: { p: 'x'.repeat(bytes - empty) } });
}

async function connectedAdapter(maxBufferedBytes: number) {
  let dropped = 0;
  const adapter = createWsAdapter({
    starter: {} as OperationStarter, // only pings here, never an operation
    authenticate: async () => undefined,
    limiter: createClientLimiter(10),
    clientAddress: () => '127.0.0.1',
    requireIdentity: false,
    limits: resolveLimits({ maxBufferedBytes }),
    logger: createLogger({ service: 'gateway-test', level: 'silent' }),
    onSlowConsumer: () => {
      dropped += 1;
    },
  });
  const socket = new StallingSocket();
  adapter.handleUpgrade(upgradeRequest(), socket, Buffer.alloc(0));
  socket.push(clientTextFrame(JSON.stringify({ type: 'connection_init' })));
  await waitFor(() => serverTexts(socket.written).includes('{"type":"connection_ack"}'), { what: 'connection_ack' });
  socket.stall();
  /** Sends a ping and waits until the adapter answered it or dropped the connection. */
  const ping = async (text: string): Promise<void> => {
    const before = serverFrames(socket.written).length;
    socket.push(clientTextFrame(text));
    await waitFor(() => serverFrames(socket.written).length > before, { what: 'the answer to a ping' });
  };
  return { adapter, socket, ping, dropped: () => dropped, pongs: () => serverTexts(socket.written).filter((text) => text.startsWith('{"type":"pong"')).length };
}

/** The close code of the close frame the server wrote, if any. */
function closeCodeWritten(chunks: readonly Buffer[]): number | undefined {
  return serverFrames(chunks)
    .find((frame) => frame.opcode === 8)
    ?.payload.readUInt16BE(0);
}

describe('slow consumer limit (4413) at its boundary', () => {
  it('sends up to exactly maxBufferedBytes unsent, and drops the consumer instead of going one message over', async () => {
    const pongBytes = 100;
    const connection = await connectedAdapter(3 * pongBytes);
    const ping = pingForPongOf(pongBytes);
    for (let i = 0; i < 3; i += 1) await connection.ping(ping);
    assert.equal(connection.socket.writableLength, 3 * pongBytes, 'the limit reached exactly');
    assert.deepEqual({ pongs: connection.pongs(), dropped: connection.dropped() }, { pongs: 3, dropped: 0 });

    await connection.ping(ping); // 300 + 100 > 300
    assert.deepEqual({ pongs: connection.pongs(), dropped: connection.dropped() }, { pongs: 3, dropped: 1 });
    assert.equal(closeCodeWritten(connection.socket.written), CloseCode.SlowConsumer);
    assert.equal(connection.adapter.connectionCount(), 0);
    connection.socket.destroy();
  });

  it('lets a message larger than the limit onto an empty buffer (a consumer keeping up), not a second one', async () => {
    const connection = await connectedAdapter(64);
    const ping = pingForPongOf(100);
    await connection.ping(ping);
    assert.deepEqual({ pongs: connection.pongs(), dropped: connection.dropped() }, { pongs: 1, dropped: 0 });
    await connection.ping(ping);
    assert.deepEqual({ pongs: connection.pongs(), dropped: connection.dropped() }, { pongs: 1, dropped: 1 });
    connection.socket.destroy();
  });
});
