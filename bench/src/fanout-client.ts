// A load client for the fan-out benchmark, run as a child process (IPC channel to the parent).
// Each socket speaks just enough graphql-transport-ws: connection_init → connection_ack →
// subscribe, then every `next` is scanned for `"committedAt":` in the raw bytes (no JSON.parse),
// and receipt time − committedAt is recorded. Cheap on purpose: the client must not be what is
// measured. A socket counts as subscribed once `subscribe` is sent after the ack: graphql-ws has no
// subscribe acknowledgement, so the parent confirms with the server's own count (or first events).
// Two socket implementations (`--client`): `raw` (raw-ws.ts, one shared read buffer, the default)
// and `ws` (the `ws` package, a Buffer and two events per message).
import { WebSocket } from 'ws';
import { openRawWebSocket, type RawWebSocket, type RawWebSocketHandlers } from './raw-ws.ts';

export type ClientKind = 'raw' | 'ws';

export type ClientCommand =
  | {
      readonly type: 'connect';
      readonly url: string;
      readonly tokens: readonly (string | null)[];
      readonly query: string;
      readonly variables: Record<string, unknown>;
      readonly inFlight: number;
      readonly client: ClientKind;
      /** Sockets not acknowledged by then fail with 'timeout'; the reply always comes by then. */
      readonly deadlineMs: number;
    }
  | { readonly type: 'measure'; readonly since: number }
  | { readonly type: 'count' }
  | { readonly type: 'collect' }
  | { readonly type: 'close' };

export type ClientReply =
  | { readonly type: 'connected'; readonly subscribed: number; readonly failures: Record<string, number>; readonly seconds: number }
  | { readonly type: 'count'; readonly received: number; readonly firstEvents: number; readonly errors: number }
  | { readonly type: 'samples'; readonly latencies: number[]; readonly received: number; readonly lateCloses: number; readonly cpuSeconds: number }
  | { readonly type: 'closed' };

const COMMITTED_AT = Buffer.from('"committedAt":');
const sockets: RawWebSocket[] = [];
let since = Number.POSITIVE_INFINITY;
let latencies: number[] = [];
let lateCloses = 0;
/** Sockets that received at least one event, and operation errors after subscribing. */
let firstEvents = 0;
let operationErrors = 0;
let cpuMark = process.cpuUsage();
/** Sockets being closed by a `close` command → what to call when each is gone. */
const closeWaiters = new Map<RawWebSocket, () => void>();

function reply(message: ClientReply): void {
  process.send?.(message);
}

function readNumberAt(data: Buffer, start: number, limit: number): number {
  let end = start;
  while (end < limit) {
    const byte = data[end] as number;
    // digits . - + e E
    if ((byte >= 48 && byte <= 57) || byte === 46 || byte === 45 || byte === 43 || byte === 101 || byte === 69) end += 1;
    else break;
  }
  return Number(data.toString('latin1', start, end));
}

/** The `ws` package behind the same small interface as raw-ws.ts. */
function openWsWebSocket(url: string, protocol: string, handlers: RawWebSocketHandlers): RawWebSocket {
  const ws = new WebSocket(url, protocol, { perMessageDeflate: false });
  let closed = false;
  const api: RawWebSocket = {
    sendText: (text) => ws.send(text),
    close: (code) => ws.close(code),
    terminate: () => ws.terminate(),
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
  };
  ws.on('open', () => handlers.onOpen(api));
  ws.on('message', (data: Buffer) => handlers.onText(data, 0, data.length));
  ws.on('close', (code, reason) => {
    if (!closed) handlers.onClose(code, reason.toString());
    closed = true;
  });
  ws.on('error', (error) => {
    if (!closed) handlers.onClose(1006, error.message);
    closed = true;
  });
  return api;
}

function includes(data: Buffer, needle: string, start: number, end: number): boolean {
  const at = data.indexOf(needle, start);
  return at >= 0 && at + needle.length <= end;
}

/** Resolves 'ok' once `subscribe` went out after the ack, else a short failure reason. */
function subscribeOne(kind: ClientKind, url: string, token: string | null, subscribeMessage: string, stopAt: number): Promise<string> {
  return new Promise((resolve) => {
    let phase: 'init' | 'live' | 'failed' = 'init';
    let seenEvent = false;
    const fail = (reason: string): void => {
      if (phase === 'live' || phase === 'failed') return;
      phase = 'failed';
      clearTimeout(timer);
      resolve(reason);
      socket.terminate();
    };
    const timer = setTimeout(() => fail('timeout'), Math.max(0, stopAt - Date.now()));
    const open = kind === 'raw' ? openRawWebSocket : openWsWebSocket;
    const socket = open(url, 'graphql-transport-ws', {
      onOpen: (ws) => ws.sendText(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} })),
      onText(data, start, end) {
        if (phase === 'init') {
          if (includes(data, 'connection_ack', start, end)) {
            phase = 'live';
            clearTimeout(timer);
            socket.sendText(subscribeMessage);
            resolve('ok');
          } else fail(`init answered ${data.toString('utf8', start, Math.min(end, start + 80))}`);
          return;
        }
        const at = data.indexOf(COMMITTED_AT, start);
        if (at < 0 || at >= end) {
          if (includes(data, '"type":"error"', start, end) || includes(data, '"errors"', start, end)) {
            operationErrors += 1;
            if (operationErrors <= 3) console.error(`subscription error: ${data.toString('utf8', start, Math.min(end, start + 200))}`);
          }
          return;
        }
        const committedAt = readNumberAt(data, at + COMMITTED_AT.length, end);
        if (committedAt >= since) latencies.push(Date.now() - committedAt);
        if (!seenEvent) {
          seenEvent = true;
          firstEvents += 1;
        }
      },
      onClose(code) {
        if (phase === 'live') lateCloses += 1;
        else fail(`closed ${code}`);
        const closed = closeWaiters.get(socket);
        closeWaiters.delete(socket);
        closed?.();
      },
    });
    sockets.push(socket);
  });
}

async function connectAll(command: Extract<ClientCommand, { type: 'connect' }>): Promise<void> {
  const started = performance.now();
  const subscribeMessage = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: command.query, variables: command.variables } });
  const failures: Record<string, number> = {};
  const stopAt = Date.now() + command.deadlineMs;
  let subscribed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(command.inFlight, command.tokens.length) }, async () => {
      while (next < command.tokens.length) {
        const token = command.tokens[next++] ?? null;
        const outcome = Date.now() >= stopAt ? 'timeout' : await subscribeOne(command.client, command.url, token, subscribeMessage, stopAt);
        if (outcome === 'ok') subscribed += 1;
        else failures[outcome] = (failures[outcome] ?? 0) + 1;
      }
    }),
  );
  reply({ type: 'connected', subscribed, failures, seconds: (performance.now() - started) / 1000 });
}

process.on('message', (command: ClientCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      break;
    case 'measure':
      since = command.since;
      latencies = [];
      lateCloses = 0;
      cpuMark = process.cpuUsage();
      break;
    case 'count':
      reply({ type: 'count', received: latencies.length, firstEvents, errors: operationErrors });
      break;
    case 'collect': {
      const cpu = process.cpuUsage(cpuMark);
      reply({ type: 'samples', latencies, received: latencies.length, lateCloses, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      break;
    }
    case 'close': {
      since = Number.POSITIVE_INFINITY;
      const open = sockets.splice(0);
      firstEvents = 0;
      operationErrors = 0;
      let left = open.length;
      const done = (): void => {
        if ((left -= 1) <= 0) reply({ type: 'closed' });
      };
      if (left === 0) reply({ type: 'closed' });
      for (const socket of open) {
        if (!socket.isOpen) done();
        else {
          closeWaiters.set(socket, done);
          socket.close(1000);
          // A peer that does not answer the close handshake is cut after 2 s.
          setTimeout(() => socket.terminate(), 2000).unref();
        }
      }
      break;
    }
  }
});
