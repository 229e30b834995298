// The `graphql-transport-ws` protocol (graphql-ws PROTOCOL.md) served on `ws`, written here rather
// than with graphql-ws's `makeServer`: that server stringifies every `next` message per socket,
// while fan-out to thousands of sockets needs to write ONE pre-serialized payload to all of them
// (we only wrap it in the per-id envelope). Fan-out writes go straight to the upgraded TCP socket
// as complete, pre-built WebSocket frames (see `writeFrame`). It also gives us one shared housekeeping interval for
// init timeouts, token expiry and keep-alive pings (each connection on its own deadline,
// keepalive.ts) instead of timers per connection. Message
// parsing and validation still come from graphql-ws (`parseMessage`).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { raceTimeout } from '@votemesh/common/race-timeout';
import { contextFromTraceExtensions } from '@votemesh/common/telemetry/graphql-ws-trace';
import type { GraphQLFormattedError } from 'graphql';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, parseMessage, type Message } from 'graphql-ws';
import { WebSocket, WebSocketServer } from 'ws';
import { bearerToken } from '../auth/verify-token.ts';
import { identityRequiredError } from '../limits/operation-guard.ts';
import { clientKeyOf } from '../http/client.ts';
import type { ClientAddress, ClientLimiter } from './client-limiter.ts';
import { parseOperationRequest, type AuthenticatedCaller, type OperationStarter } from './operations.ts';
import { firstKeepAliveAt, housekeepingTickMs } from './keepalive.ts';
import { CloseCode, overflowsBuffer, type SubscriptionLimits } from './options.ts';
import { outgoing, type OutgoingResult } from './outgoing-result.ts';
import type { SubscriberSink } from './subscription-hub.ts';

type Phase =
  | { readonly kind: 'awaiting-init'; readonly deadline: number }
  | { readonly kind: 'initialising' }
  | {
      readonly kind: 'ready';
      readonly caller: AuthenticatedCaller | undefined;
      readonly clientKey: string;
      readonly expiresAtMs: number | undefined;
      /** From the `connection_init` payload's `traceparent`/`tracestate`; the root context when absent. */
      readonly traceContext: Context;
    }
  | { readonly kind: 'closed' };

interface Connection {
  readonly socket: WebSocket;
  /** The upgraded TCP socket under `socket` (the one handed to handleUpgrade): `next` frames go here. */
  readonly raw: Duplex;
  readonly address: string;
  phase: Phase;
  /** Answered the last ping (or sent anything) since. */
  alive: boolean;
  /** When this connection gets its next ping (keepalive.ts: deadlines of their own, never all at once). */
  nextPingAt: number;
  /** Active operation id → how to stop it. */
  readonly operations: Map<string, () => void>;
}

export interface WsAdapterOptions {
  readonly starter: OperationStarter;
  readonly authenticate: (token?: string) => Promise<AuthenticatedCaller | undefined>;
  readonly limiter: ClientLimiter;
  readonly clientAddress: ClientAddress;
  /** Refuse anonymous callers (AUTH_REQUIRED_FOR_GRAPH), with HTTP's UNAUTHENTICATED. */
  readonly requireIdentity: boolean;
  readonly limits: SubscriptionLimits;
  readonly logger: Logger;
  readonly onSlowConsumer: () => void;
}

export interface WsAdapter {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  connectionCount(): number;
  /** New upgrades get 503 from now on; the open connections carry on. */
  stopAccepting(): void;
  /** Stops accepting; waits (bounded) for buffers to drain; closes everyone with 1001. */
  close(): Promise<void>;
}

export function createWsAdapter(options: WsAdapterOptions): WsAdapter {
  const { limits, logger } = options;
  const connections = new Set<Connection>();
  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // ws closes a message over its own maxPayload with 1009 and no reason (from inside its frame
    // parser, before anything of ours runs). So ws gets a hard cap above our limit, and onMessage
    // enforces the limit with a reason that says it; only a message past the cap gets ws's bare 1009.
    maxPayload: limits.maxMessageBytes * MESSAGE_HARD_CAP_FACTOR,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(GRAPHQL_TRANSPORT_WS_PROTOCOL) ? GRAPHQL_TRANSPORT_WS_PROTOCOL : false),
  });
  let accepting = true;
  const ticker = setInterval(housekeeping, housekeepingTickMs(limits.connectionInitTimeoutMs / 4, limits.keepAliveMs / 20));
  ticker.unref();

  function housekeeping(): void {
    const now = Date.now();
    for (const connection of connections) {
      const { phase, socket } = connection;
      if (phase.kind === 'awaiting-init' && phase.deadline <= now) {
        end(connection, CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
      } else if (phase.kind === 'ready' && phase.expiresAtMs !== undefined && phase.expiresAtMs <= now) {
        end(connection, CloseCode.Forbidden, 'Token expired');
      } else if (connection.nextPingAt <= now && socket.readyState === WebSocket.OPEN) {
        if (!connection.alive) {
          end(connection, undefined, 'keep-alive timeout');
          continue;
        }
        connection.alive = false;
        connection.nextPingAt = now + limits.keepAliveMs;
        socket.ping();
      }
    }
  }

  /** Stops every operation and frees the slot now; the socket closes (or is cut, code undefined). */
  function end(connection: Connection, code: number | undefined, reason: string): void {
    if (connection.phase.kind === 'closed') return;
    const phase = connection.phase;
    connection.phase = { kind: 'closed' };
    connections.delete(connection);
    for (const stop of connection.operations.values()) stop();
    connection.operations.clear();
    if (phase.kind === 'ready') options.limiter.release(phase.clientKey);
    if (code === undefined) connection.socket.terminate();
    else if (connection.socket.readyState === WebSocket.OPEN) connection.socket.close(code, reason);
  }

  /**
   * Drops the connection with 4413 when a frame of `frameBytes` would leave more than
   * `maxBufferedBytes` unsent on it (overflowsBuffer). Checked before every outgoing message, not
   * only `next`: a client that stops reading can otherwise grow our memory without bound with pongs
   * (each echoes up to `maxMessageBytes` of ping payload), `error`s and `complete`s. ws writes its
   * frames to `raw` too, so its length counts them all.
   */
  function dropIfSlow(connection: Connection, frameBytes: number): boolean {
    const bufferedBytes = connection.raw.writableLength;
    if (!overflowsBuffer(bufferedBytes, frameBytes, limits.maxBufferedBytes)) return false;
    options.onSlowConsumer();
    logger.warn({ bufferedBytes, frameBytes }, 'dropping slow subscription consumer');
    end(connection, CloseCode.SlowConsumer, 'Slow consumer');
    return true;
  }

  function send(connection: Connection, message: string): void {
    const payloadBytes = Buffer.byteLength(message);
    if (connection.socket.readyState !== WebSocket.OPEN || dropIfSlow(connection, frameHeaderLength(payloadBytes) + payloadBytes)) return;
    connection.socket.send(message);
  }

  function sendError(connection: Connection, id: string, errors: readonly GraphQLFormattedError[]): void {
    send(connection, JSON.stringify({ id, type: MessageType.Error, payload: errors }));
  }

  async function onInit(connection: Connection, payload: Record<string, unknown> | null | undefined): Promise<void> {
    connection.phase = { kind: 'initialising' };
    let caller: AuthenticatedCaller | undefined;
    try {
      caller = await options.authenticate(tokenOf(payload));
    } catch (error) {
      if (error instanceof VotemeshError && error.code.startsWith('TOKEN_')) {
        return end(connection, CloseCode.Forbidden, closeReason(`${error.code}: ${error.message}`));
      }
      logger.error({ err: error }, 'authenticating a subscription connection failed');
      return end(connection, 1013, 'Try again later');
    }
    if (isClosed(connection)) return; // the socket went away while we verified the token
    if (!caller && options.requireIdentity) {
      const error = identityRequiredError();
      return end(connection, CloseCode.Forbidden, closeReason(`${error.code}: ${error.message}`));
    }
    const key = clientKeyOf(caller, connection.address);
    if (!options.limiter.acquire(key)) {
      return end(connection, CloseCode.TooManyRequests, `Too many connections (at most ${limits.maxConnectionsPerClient} per client)`);
    }
    const expiresAtMs = caller?.expiresAt !== undefined ? caller.expiresAt * 1000 : undefined;
    // Socket events carry no trace: the connection's context is what the client put in connection_init.
    connection.phase = { kind: 'ready', caller, clientKey: key, expiresAtMs, traceContext: contextFromTraceExtensions(payload, ROOT_CONTEXT) };
    send(connection, '{"type":"connection_ack"}');
  }

  function onSubscribe(connection: Connection, id: string, payload: unknown): void {
    const phase = connection.phase;
    if (phase.kind !== 'ready') return end(connection, CloseCode.Unauthorized, 'Unauthorized');
    if (connection.operations.has(id)) return end(connection, CloseCode.SubscriberAlreadyExists, closeReason(`Subscriber for ${id} already exists`));
    if (connection.operations.size >= limits.maxSubscriptionsPerConnection) {
      const error = new VotemeshError('TOO_MANY_SUBSCRIPTIONS', `A connection may hold at most ${limits.maxSubscriptionsPerConnection} operations`);
      return sendError(connection, id, [error.toJSON()]);
    }
    const request = parseOperationRequest(payload);
    if (typeof request === 'string') return sendError(connection, id, [new VotemeshError('BAD_USER_INPUT', request).toJSON()]);

    // The `next` envelope around a shared payload; the complete frame is built once per result and
    // id (OutgoingResult.framed) and the same bytes go to every socket subscribed under that id.
    const envelope = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
    const framingKey = `ws:${id}`;
    const buildFrame = (result: OutgoingResult): Buffer => textFrame(envelope, result.bytes, ENVELOPE_END);
    let active = true;
    const stop = (): void => {
      active = false;
      if (connection.operations.get(id) === registered) connection.operations.delete(id);
    };
    let registered: () => void = stop;
    connection.operations.set(id, stop);
    const sink: SubscriberSink = {
      send(result) {
        const { socket, raw } = connection;
        if (!active || socket.readyState !== WebSocket.OPEN) return false;
        const frame = result.framed(framingKey, buildFrame);
        if (dropIfSlow(connection, frame.length)) return false;
        writeFrame(raw, frame);
        return true;
      },
      complete() {
        if (!active) return;
        stop();
        send(connection, JSON.stringify({ id, type: MessageType.Complete }));
      },
      error(errors) {
        if (!active) return;
        stop();
        sendError(connection, id, errors);
      },
    };
    const started = options.starter.start(request, phase.caller, connection.address, sink, phase.traceContext);
    switch (started.kind) {
      case 'rejected':
        return sink.error(started.errors);
      case 'single':
        started.result.then(
          (result) => {
            if (sink.send(outgoing(result))) sink.complete();
          },
          (error: unknown) => {
            logger.error({ err: error }, 'executing an operation sent over WebSocket failed');
            sink.error([{ message: 'Internal error', extensions: { code: 'INTERNAL' } }]);
          },
        );
        return;
      case 'subscribed': {
        const unsubscribe = started.unsubscribe;
        const owned = (): void => {
          stop();
          unsubscribe();
        };
        if (active) {
          registered = owned;
          connection.operations.set(id, owned);
        } else unsubscribe(); // ended synchronously
        return;
      }
    }
  }

  function onMessage(connection: Connection, data: WebSocket.RawData): void {
    connection.alive = true;
    const bytes = byteLengthOf(data);
    if (bytes > limits.maxMessageBytes) {
      return end(connection, CloseCode.MessageTooBig, `Message too big: ${bytes} bytes, the limit is ${limits.maxMessageBytes}`);
    }
    let message: Message;
    try {
      message = parseMessage(data.toString());
    } catch (error) {
      return end(connection, CloseCode.BadRequest, closeReason(error instanceof Error ? error.message : 'Invalid message received'));
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        if (connection.phase.kind !== 'awaiting-init') return end(connection, CloseCode.TooManyRequests, 'Too many initialisation requests');
        void onInit(connection, message.payload);
        return;
      case MessageType.Ping:
        send(connection, message.payload ? JSON.stringify({ type: MessageType.Pong, payload: message.payload }) : '{"type":"pong"}');
        return;
      case MessageType.Pong:
        return;
      case MessageType.Subscribe:
        return onSubscribe(connection, message.id, message.payload);
      case MessageType.Complete:
        connection.operations.get(message.id)?.();
        return;
      default:
        return end(connection, CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  function onConnection(socket: WebSocket, req: IncomingMessage, raw: Duplex): void {
    // First, before any early return: a peer can send an invalid frame at any point (even while we
    // close it with 4406), and `ws` reports that as 'error', which with no listener ends the process.
    socket.on('error', (error) => logger.debug({ err: error }, 'subscription socket error'));
    const now = Date.now();
    const connection: Connection = {
      socket,
      raw,
      address: options.clientAddress(req),
      phase: { kind: 'awaiting-init', deadline: now + limits.connectionInitTimeoutMs },
      alive: true,
      nextPingAt: firstKeepAliveAt(now, limits.keepAliveMs),
      operations: new Map(),
    };
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      socket.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    connections.add(connection);
    socket.on('message', (data) => {
      // A throw here would leave ws's event handler and end the process: one bad message from one
      // client must cost that client its connection (4500, logged), not everyone theirs.
      try {
        onMessage(connection, data);
      } catch (error) {
        logger.error({ err: error }, 'handling a subscription message failed');
        end(connection, CloseCode.InternalServerError, 'Internal server error');
      }
    });
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('close', () => end(connection, undefined, 'closed'));
  }

  return {
    handleUpgrade(req, socket, head) {
      if (!accepting) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      server.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, socket));
    },
    connectionCount: () => connections.size,
    stopAccepting() {
      accepting = false;
    },
    async close() {
      accepting = false;
      clearInterval(ticker);
      const open = [...connections];
      await drain(
        open.map((connection) => connection.socket),
        limits.drainTimeoutMs,
      );
      const closed = open.map(
        (connection) =>
          new Promise<void>((resolve) => {
            if (connection.socket.readyState === WebSocket.CLOSED) return resolve();
            connection.socket.once('close', () => resolve());
          }),
      );
      for (const connection of open) end(connection, CloseCode.GoingAway, 'Going away');
      const goneAway = await raceTimeout(Promise.all(closed), limits.drainTimeoutMs);
      if (goneAway.kind === 'timed-out') for (const connection of open) connection.socket.terminate();
      server.close();
    },
  };
}

const ENVELOPE_END = Buffer.from('}');

/** ws's own limit, as a multiple of maxMessageBytes: what one message may make us buffer before it is refused. */
const MESSAGE_HARD_CAP_FACTOR = 4;

function byteLengthOf(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/** Bytes before the payload of an unmasked frame (a server's): the 7-, 16- or 64-bit length form. */
function frameHeaderLength(payloadBytes: number): number {
  return payloadBytes < 126 ? 2 : payloadBytes < 65_536 ? 4 : 10;
}

/**
 * One unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2: FIN + opcode 1, then the 7-,
 * 16- or 64-bit payload length) holding `parts` back to back, in one Buffer.
 */
export function textFrame(...parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const headerLength = frameHeaderLength(length);
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (headerLength === 2) frame[1] = length;
  else if (headerLength === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  let offset = headerLength;
  for (const part of parts) offset += part.copy(frame, offset);
  return frame;
}

/**
 * Writes a complete frame on the upgraded socket, bypassing ws's per-send work (string → UTF-8,
 * a header Buffer, cork + two writes + uncork, per socket): one `write` of a shared Buffer. Safe
 * because ws writes every frame of its own synchronously and in call order as long as nothing is
 * compressed (`perMessageDeflate: false` above) and no Blob is sent (we never send one): its
 * sender queue is then always empty, so frames never interleave and stay in order. The caller
 * checks `readyState === OPEN` first, so nothing follows a close frame.
 */
function writeFrame(raw: Duplex, frame: Buffer): void {
  raw.write(frame);
}

function isClosed(connection: Connection): boolean {
  return connection.phase.kind === 'closed';
}

/** The bearer token in `connection_init`: `{ authorization: "Bearer …" }` (any case) or `{ token }`. */
function tokenOf(payload: Record<string, unknown> | null | undefined): string | undefined {
  if (!payload) return undefined;
  const authorization = payload['authorization'] ?? payload['Authorization'];
  if (typeof authorization === 'string') return bearerToken(authorization);
  const token = payload['token'];
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/** Close reasons are limited to 123 bytes by RFC 6455. */
function closeReason(reason: string): string {
  return Buffer.byteLength(reason) <= 123 ? reason : `${Buffer.from(reason).subarray(0, 120).toString()}...`;
}

async function drain(sockets: readonly WebSocket[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sockets.some((socket) => socket.readyState === WebSocket.OPEN && socket.bufferedAmount > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
