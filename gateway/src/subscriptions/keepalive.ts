// When each long-lived connection gets its next keep-alive (a WebSocket ping frame, an SSE comment,
// an empty multipart part). Every connection keeps a deadline of its own instead of all of them
// being pinged on the same tick: one write per socket costs ~15 µs of kernel time on a small VM, so
// pinging 10,000 sockets at once blocks the event loop for ~150 ms, and any live event that arrives
// meanwhile reaches its subscribers that much later (the bench:fanout tail). The first deadline is
// drawn from the second half of the interval, so connections that all arrive at once (clients
// reconnecting after a restart) still spread their keep-alives over half an interval.

/** Housekeeping tick of the transports: how finely keep-alives are spread. @default 250 */
export const KEEPALIVE_TICK_MS = 250;

/** The first keep-alive of a connection opened at `now`: uniformly in [now + interval/2, now + interval]. */
export function firstKeepAliveAt(now: number, intervalMs: number, random: () => number = Math.random): number {
  return now + Math.round(intervalMs * (0.5 + random() / 2));
}

/** The housekeeping period of a transport: at most KEEPALIVE_TICK_MS, and finer than any deadline it serves. */
export function housekeepingTickMs(...deadlinesMs: readonly number[]): number {
  return Math.max(10, Math.min(KEEPALIVE_TICK_MS, ...deadlinesMs));
}
