// The one way services get a PrismaClient: the generated client over @prisma/adapter-pg (Prisma 7
// has no built-in driver). Other modules import Prisma's types from here, not from ./generated, so
// the generated folder's layout stays an implementation detail.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';

/** A pg pool; a process that also needs the driver directly gives it to createPrismaClient and uses it too. */
export type DatabasePool = pg.Pool;

export { PrismaClient, Prisma, PollStatus } from './generated/client.ts';
export type { AuditEvent, Ballot, OptionTally, Poll, PollOption, PollRateBucket, PollTally } from './generated/client.ts';

export interface CreatePrismaClientOptions {
  /** Upper bound of the pg pool behind the client (pg's default is 10). */
  poolMax?: number;
}

export interface CreateDatabasePoolOptions extends CreatePrismaClientOptions {
  /**
   * An idle connection broke (the server restarted, say). pg drops it and opens a new one when
   * needed; without a listener the pool's 'error' event would end the process. @default ignored
   */
  onIdleClientError?: (error: Error) => void;
}

/** One pg pool for a process; its owner ends it after the PrismaClient on top disconnects. */
export function createDatabasePool(databaseUrl: string, options: CreateDatabasePoolOptions = {}): DatabasePool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolMax });
  pool.on('error', options.onIdleClientError ?? (() => {}));
  return pool;
}

/** Over its own pool (from the URL), or over `pool`: `options` then do not apply and the caller ends the pool. */
export function createPrismaClient(databaseUrlOrPool: string | DatabasePool, options: CreatePrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg(typeof databaseUrlOrPool === 'string' ? { connectionString: databaseUrlOrPool, max: options.poolMax } : databaseUrlOrPool);
  return new PrismaClient({ adapter });
}
