// Counts the open WebSockets and SSE/multipart streams of each client against one budget shared by
// both transports. Clients are keyed by http/client.ts `clientKeyOf` (verified subject, else network
// address), the same key the rate limits count by.
import type { IncomingMessage } from 'node:http';

export interface ClientLimiter {
  /** Takes one slot for `key`; false when the client already holds `max`. */
  acquire(key: string): boolean;
  release(key: string): void;
}

export function createClientLimiter(max: number): ClientLimiter {
  const held = new Map<string, number>();
  return {
    acquire(key) {
      const count = held.get(key) ?? 0;
      if (count >= max) return false;
      held.set(key, count + 1);
      return true;
    },
    release(key) {
      const count = (held.get(key) ?? 0) - 1;
      if (count > 0) held.set(key, count);
      else held.delete(key);
    },
  };
}

/** Which address an anonymous client is counted by. The default trusts only the TCP peer; behind
 * a proxy, pass the gateway's own client-address policy (the one its rate limits use). */
export type ClientAddress = (req: IncomingMessage) => string;

export const peerAddress: ClientAddress = (req) => req.socket.remoteAddress ?? 'unknown';
