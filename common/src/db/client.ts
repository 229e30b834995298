// The one way services get a PrismaClient: the generated client over @prisma/adapter-pg (Prisma 7
// has no built-in driver). Other modules import Prisma's types from here, not from ./generated, so
// the generated folder's layout stays an implementation detail.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

export { PrismaClient, Prisma, PollStatus } from './generated/client.ts';
export type { AuditEvent, Ballot, OptionTally, Poll, PollOption, PollRateBucket, PollTally } from './generated/client.ts';

export interface CreatePrismaClientOptions {
  /** Upper bound of the pg pool behind the client (pg's default is 10). */
  poolMax?: number;
}

export function createPrismaClient(databaseUrl: string, options: CreatePrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.poolMax });
  return new PrismaClient({ adapter });
}
