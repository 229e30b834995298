// The fan-out benchmark's floor, run as its own process (forked, IPC to the parent): what this
// machine costs to push ONE message to N WebSocket subscribers when nothing else happens. It
// accepts graphql-transport-ws connections (connection_init → ack, subscribe → registered) and, on
// the parent's `push`, writes one pre-built `next` frame carrying `committedAt: now` to every
// subscribed socket in one synchronous loop, exactly as the gateway's fan-out does
// (gateway/src/subscriptions/ws-adapter.ts), but with no worker, gRPC, result subgraph, entity
// fetch or GraphQL in front of it. Whatever latency the floor shows, no server on this box can beat.
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

export type FloorCommand = { readonly type: 'push'; readonly sequence: number } | { readonly type: 'count' };
export type FloorReply =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'pushed'; readonly sockets: number; readonly sweepMs: number }
  | { readonly type: 'count'; readonly subscribers: number };

interface Subscriber {
  readonly raw: Duplex;
  readonly socket: WebSocket;
  readonly id: string;
}

const subscribers = new Set<Subscriber>();
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false),
});
const server = createServer((_request, response) => response.writeHead(404).end());

server.on('upgrade', (request, raw: Duplex, head) => {
  wss.handleUpgrade(request, raw, head, (socket) => {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type?: string; id?: string };
      if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
      else if (message.type === 'subscribe' && typeof message.id === 'string') subscribers.add({ raw, socket, id: message.id });
    });
    socket.on('close', () => {
      for (const subscriber of subscribers) if (subscriber.socket === socket) subscribers.delete(subscriber);
    });
  });
});

/** One unmasked text frame (RFC 6455 §5.2) around `payload`. */
function textFrame(payload: Buffer): Buffer {
  const headerLength = payload.length < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  frame[0] = 0x81;
  if (headerLength === 2) frame[1] = payload.length;
  else {
    frame[1] = 126;
    frame.writeUInt16BE(payload.length, 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

process.on('message', (command: FloorCommand) => {
  if (command.type === 'count') return reply({ type: 'count', subscribers: subscribers.size });
  const started = performance.now();
  // The same shape and size as the gateway's pollResults event (the client only reads committedAt).
  const payload = JSON.stringify({
    data: {
      pollResults: {
        committedAt: Date.now(),
        totalVotes: command.sequence,
        options: ['Red', 'Green', 'Blue', 'Yellow'].map((label, index) => ({ votes: index === command.sequence % 4 ? 1 : 0, option: { label } })),
        poll: { question: 'Benchmark: which colour?' },
      },
    },
  });
  const frames = new Map<string, Buffer>();
  let sockets = 0;
  for (const { raw, socket, id } of subscribers) {
    if (socket.readyState !== WebSocket.OPEN) continue;
    let frame = frames.get(id);
    if (!frame) frames.set(id, (frame = textFrame(Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":${payload}}`))));
    raw.write(frame);
    sockets += 1;
  }
  reply({ type: 'pushed', sockets, sweepMs: performance.now() - started });
});

function reply(message: FloorReply): void {
  process.send?.(message);
}

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') reply({ type: 'listening', port: address.port });
});
process.on('SIGTERM', () => process.exit(0));
