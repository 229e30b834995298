// Private Redis key prefixes for tests and benchmarks, and their removal afterwards. Every run
// shares one Redis server, so each harness works under its own prefix; what it leaves behind
// (vote streams never expire, receipts live a day) would otherwise pile up run after run.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A fresh `vmtest:<12 hex>:` prefix. */
export function testRedisPrefix(): string {
  return `vmtest:${randomBytes(6).toString('hex')}:`;
}

/**
 * Removes every key under `prefix` with SCAN + UNLINK (never KEYS, which blocks the server while it
 * walks the whole keyspace). Returns how many keys were removed.
 */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  // A prefix without its trailing separator would also match a neighbour's keys (vmtest:ab → vmtest:abc…).
  if (!prefix.endsWith(':')) throw new Error(`refusing to delete keys under "${prefix}": a test prefix ends with ':'`);
  let cursor = '0';
  let removed = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (found.length > 0) removed += await redis.unlink(...found);
  } while (cursor !== '0');
  return removed;
}

/**
 * Drops the server side of the connection named `name` (ioredis `connectionName`), as a network
 * failure would: the client sees the connection close and reconnects. Only that one connection,
 * so tests running beside it on the same Redis are not disturbed. Returns how many were killed.
 */
export async function killRedisConnection(redis: Redis, name: string): Promise<number> {
  const list = String(await redis.client('LIST'));
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await redis.client('KILL', 'ID', id);
  return ids.length;
}
