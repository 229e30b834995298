// The `error` listener every ioredis client needs. Without one ioredis prints "[ioredis] Unhandled
// error event" with a stack on every reconnect attempt (every ~2 s while Redis is away, per
// connection), and an error emitted on a client ioredis does not guard would crash the process.
// With it, an outage is one warning per connection when it starts and one line when it ends; the
// attempts in between are debug.
import type { Redis } from 'ioredis';

export interface RedisErrorLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Logs `client`'s errors once per state change: the first error after the connection was ready (or
 * before it ever was) at warn, the repeats at debug, and at the next `ready` how many there were.
 * `connection` names it in the log (e.g. "bus subscriber", "consumer lane 1").
 */
export function watchRedisErrors(client: Redis, logger: RedisErrorLogger, connection: string): void {
  let failing = false;
  let errors = 0;
  client.on('error', (error: Error) => {
    errors += 1;
    // The message and code say it all; a socket error's stack is only Node's internal frames.
    const fields = { error: error.message, code: 'code' in error ? error.code : undefined, connection, errors };
    if (failing) {
      logger.debug(fields, 'redis connection error (repeated)');
      return;
    }
    failing = true;
    logger.warn(fields, 'redis connection error; retrying (repeats are logged at debug until it recovers)');
  });
  client.on('ready', () => {
    if (!failing) return;
    logger.info({ connection, errors }, 'redis connection restored');
    failing = false;
    errors = 0;
  });
}
