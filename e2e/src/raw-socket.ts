// A graphql-transport-ws socket driven message by message, for what the graphql-ws client hides:
// close codes and reasons, `error` messages for one subscription id, refusals at connection_init.
import { waitFor } from '@votemesh/common/testing/wait-for';
import { WebSocket } from 'ws';

export interface RawSocket extends AsyncDisposable {
  readonly messages: readonly Record<string, unknown>[];
  send(message: Record<string, unknown>): void;
  /** The first received message matching `predicate`, waiting up to `timeoutMs`. */
  waitForMessage(predicate: (message: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The close code and reason, once the server closed the socket. */
  closed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
}

/** Opens a socket to `gatewayUrl`'s /graphql and sends connection_init (with the token, if any). */
export async function openRawSocket(gatewayUrl: string, token?: string): Promise<RawSocket> {
  const socket = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: Record<string, unknown>[] = [];
  let close: { code: number; reason: string } | undefined;
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  socket.on('close', (code, reason) => {
    close = { code, reason: reason.toString() };
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: token === undefined ? {} : { authorization: `Bearer ${token}` } }));
  return {
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    waitForMessage: (predicate, timeoutMs = 10_000) =>
      waitFor(
        () => {
          const found = messages.find(predicate);
          if (found) return found;
          if (close) throw new Error(`socket closed (${close.code} ${close.reason}) before the message arrived; got ${JSON.stringify(messages)}`);
          return undefined;
        },
        { timeoutMs, what: 'a matching graphql-ws message' },
      ),
    closed: (timeoutMs = 10_000) => waitFor(() => close, { timeoutMs, what: 'the socket to close' }),
    async [Symbol.asyncDispose]() {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.terminate();
    },
  };
}
