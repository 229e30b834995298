// Counts the open WebSockets and SSE/multipart streams of each client (by verified subject, else by
// network address) against one budget shared by both transports.
import type { IncomingMessage } from 'node:http';
import type { Identity } from '@votemesh/common/contracts/identity';

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

export function clientKey(identity: Identity | undefined, address: string): string {
  return identity ? `subject:${identity.subject}` : `address:${address}`;
}
