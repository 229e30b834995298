// CPU of the PostgreSQL backends serving one database: on a shared box, the all-PostgreSQL figure
// counts everyone's work, while a benchmark's own fresh database has only its own connections.
import type { PrismaClient } from '@votemesh/common/db/client';
import { readCpuSeconds } from './proc.ts';

/**
 * CPU seconds each backend of `databaseName` has used since `since` (a backend absent from it is new
 * and counts from zero); the pids come from pg_stat_activity, the times from /proc.
 */
export async function backendCpuSeconds(prisma: PrismaClient, databaseName: string, since: ReadonlyMap<number, number>): Promise<Map<number, number>> {
  const rows = await prisma.$queryRaw<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${databaseName}`;
  const used = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      used.set(pid, readCpuSeconds(pid) - (since.get(pid) ?? 0));
    } catch {
      // ended meanwhile
    }
  }
  return used;
}

export function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
