// Picks a free TCP port for a child process or a test that needs a port nothing listens on. Child processes get their ports up front this way, so
// the harness knows every address before anything starts.
//
// The port comes from below the kernel's ephemeral range: a port the kernel handed out for
// `listen(0)` is free only until it binds the same number as the local end of some outgoing
// connection (a Redis or PostgreSQL client, or the 10,000 sockets of bench:fanout), which then makes
// the child's listen fail with EADDRINUSE. Below the range only another listener can take it, and
// each pick is checked by binding it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
/** Ports this process has handed out: a check-then-close pick is not held, so never pick one twice. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  const highest = (ephemeralRangeStart() ?? LOWEST) - 1;
  for (let attempt = 0; attempt < 100 && highest > LOWEST; attempt += 1) {
    const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the check, so a concurrent pick cannot take the same number
    if (await canListen(port)) return port;
    handedOut.delete(port);
  }
  // No room below the range (or no Linux /proc): the kernel's own choice.
  return listenOnce(0);
}

function ephemeralRangeStart(): number | undefined {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(start) && start > 0 ? start : undefined;
  } catch {
    return undefined;
  }
}

async function canListen(port: number): Promise<boolean> {
  return listenOnce(port).then(
    () => true,
    () => false,
  );
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
