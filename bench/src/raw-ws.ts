// A minimal WebSocket client for the fan-out benchmark's load processes (RFC 6455, client side only):
// the HTTP upgrade, masked text frames out, unmasked frames in, ping → pong, close. It exists
// because the benchmark runs the clients on the same 2 cores as the server: with `ws`, each
// received message costs the client process a stream write, a Receiver parse, a Buffer per
// message and two event emissions, and the clients' CPU then competes with the sweep being
// measured. Here every socket reads into ONE shared buffer (net's `onread`), and a message is
// handed over as a range of that buffer, valid only during the callback.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawWebSocketHandlers {
  /** The upgrade was accepted with the requested subprotocol. */
  onOpen(socket: RawWebSocket): void;
  /** One complete text message: `data[start, end)`, valid only until this call returns. */
  onText(data: Buffer, start: number, end: number): void;
  /** The connection ended (close frame, reset or failed upgrade); called once. */
  onClose(code: number, reason: string): void;
}

export interface RawWebSocket {
  sendText(text: string): void;
  close(code: number): void;
  terminate(): void;
  readonly isOpen: boolean;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** Largest message the benchmark expects; a bigger frame is a protocol surprise, not data. */
const MAX_MESSAGE_BYTES = 1 << 20;

// One read buffer for every socket of the process: `onread` callbacks run one at a time.
const readBuffer = Buffer.allocUnsafe(256 * 1024);

export function openRawWebSocket(url: string, protocol: string, handlers: RawWebSocketHandlers): RawWebSocket {
  const target = new URL(url);
  const key = randomBytes(16).toString('base64');
  let phase: 'upgrading' | 'open' | 'closed' = 'upgrading';
  /** Bytes of an incomplete HTTP response or frame, carried to the next read. */
  let pending: Buffer | undefined;
  let fragments: Buffer[] | undefined;

  const finish = (code: number, reason: string): void => {
    if (phase === 'closed') return;
    phase = 'closed';
    socket.destroy();
    handlers.onClose(code, reason);
  };

  const writeFrame = (opcode: number, payload: Buffer): void => {
    // Client frames must be masked (§5.3); the key is random per frame.
    const length = payload.length;
    const headerLength = length < 126 ? 6 : length < 65_536 ? 8 : 14;
    const frame = Buffer.allocUnsafe(headerLength + length);
    frame[0] = 0x80 | opcode;
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 65_536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = randomBytes(4);
    mask.copy(frame, headerLength - 4);
    for (let i = 0; i < length; i += 1) frame[headerLength + i] = (payload[i] as number) ^ (mask[i & 3] as number);
    socket.write(frame);
  };

  const onFrame = (fin: boolean, opcode: number, data: Buffer, start: number, end: number): void => {
    switch (opcode) {
      case OPCODE.text:
      case OPCODE.continuation:
        if (!fin || fragments) {
          (fragments ??= []).push(Buffer.from(data.subarray(start, end)));
          if (!fin) return;
          const whole = Buffer.concat(fragments);
          fragments = undefined;
          return handlers.onText(whole, 0, whole.length);
        }
        return handlers.onText(data, start, end);
      case OPCODE.ping:
        return writeFrame(OPCODE.pong, Buffer.from(data.subarray(start, end)));
      case OPCODE.close: {
        const code = end - start >= 2 ? data.readUInt16BE(start) : 1005;
        const reason = data.toString('utf8', start + 2, end);
        if (phase === 'open') writeFrame(OPCODE.close, Buffer.from(data.subarray(start, Math.min(end, start + 2))));
        return finish(code, reason);
      }
      case OPCODE.pong:
      case OPCODE.binary:
        return;
      default:
        return finish(1002, `unknown opcode ${opcode}`);
    }
  };

  /** Consumes whole frames of `data[0, length)`; returns where the first incomplete one starts. */
  const readFrames = (data: Buffer, length: number): number => {
    let at = 0;
    while (phase === 'open' && length - at >= 2) {
      const first = data[at] as number;
      const second = data[at + 1] as number;
      if (second & 0x80) {
        finish(1002, 'the server sent a masked frame');
        return length;
      }
      let payloadLength = second & 0x7f;
      let header = 2;
      if (payloadLength === 126) {
        if (length - at < 4) break;
        payloadLength = data.readUInt16BE(at + 2);
        header = 4;
      } else if (payloadLength === 127) {
        if (length - at < 10) break;
        payloadLength = Number(data.readBigUInt64BE(at + 2));
        header = 10;
      }
      if (payloadLength > MAX_MESSAGE_BYTES) {
        finish(1009, `frame of ${payloadLength} bytes`);
        return length;
      }
      if (length - at < header + payloadLength) break;
      onFrame((first & 0x80) !== 0, first & 0x0f, data, at + header, at + header + payloadLength);
      at += header + payloadLength;
    }
    return at;
  };

  const readUpgrade = (data: Buffer, length: number): number => {
    const headEnd = data.subarray(0, length).indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (length > 16 * 1024) finish(1002, 'upgrade response head too large');
      return 0;
    }
    const head = data.toString('latin1', 0, headEnd);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
    const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(head)?.[1];
    const chosen = /^sec-websocket-protocol:\s*(\S+)/im.exec(head)?.[1];
    const expected = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    if (status !== '101') finish(1006, `upgrade answered HTTP ${status ?? '?'}`);
    else if (accept !== expected) finish(1002, 'wrong Sec-WebSocket-Accept');
    else if (chosen !== protocol) finish(1002, `server chose subprotocol ${chosen ?? 'none'}`);
    else {
      phase = 'open';
      handlers.onOpen(api);
    }
    return headEnd + 4;
  };

  const consume = (data: Buffer, length: number): void => {
    let at = 0;
    if (phase === 'upgrading') at = readUpgrade(data, length);
    if (phase === 'open' && at < length) at += readFrames(at === 0 ? data : data.subarray(at, length), length - at);
    if (phase !== 'closed' && at < length) pending = Buffer.from(data.subarray(at, length));
  };

  const socket: Socket = connect({
    host: target.hostname,
    port: Number(target.port),
    noDelay: true,
    onread: {
      buffer: readBuffer,
      // `buffer` is always `readBuffer` (typed as a plain Uint8Array by @types/node).
      callback(bytes) {
        if (phase === 'closed') return false;
        if (pending === undefined) consume(readBuffer, bytes);
        else {
          const joined = Buffer.concat([pending, readBuffer.subarray(0, bytes)]);
          pending = undefined;
          consume(joined, joined.length);
        }
        return true;
      },
    },
  });
  socket.once('connect', () => {
    socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    );
  });
  socket.on('end', () => finish(1006, 'connection ended without a close frame'));
  socket.on('close', () => finish(1006, 'connection closed'));
  socket.on('error', (error) => finish(1006, error.message));

  const api: RawWebSocket = {
    sendText(text) {
      if (phase === 'open') writeFrame(OPCODE.text, Buffer.from(text));
    },
    close(code) {
      if (phase !== 'open') return;
      const payload = Buffer.allocUnsafe(2);
      payload.writeUInt16BE(code);
      writeFrame(OPCODE.close, payload);
      // The server answers with its close frame, which ends the socket (onFrame → finish).
    },
    terminate() {
      finish(1006, 'terminated');
    },
    get isOpen() {
      return phase === 'open';
    },
  };
  return api;
}
