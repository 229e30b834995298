// PostgreSQL access for polls and options (tables owned by this subgraph). Lifecycle changes are
// single conditional UPDATEs (`WHERE status = …`), so concurrent admins and several scheduler
// replicas can never apply the same transition twice: exactly one UPDATE returns the row.
import type { PollStatus } from '@votemesh/common/contracts/bus';
import type { PrismaClient } from '@votemesh/common/db/client';

export interface OptionRecord {
  readonly id: string;
  readonly pollId: string;
  readonly label: string;
  readonly position: number;
}

export interface PollRecord {
  readonly id: string;
  readonly question: string;
  readonly status: PollStatus;
  readonly opensAt: Date | null;
  readonly closesAt: Date | null;
  readonly createdAt: Date;
  readonly createdBy: string;
  /** In poll order (by position). */
  readonly options: readonly OptionRecord[];
}

export interface NewPoll {
  readonly id: string;
  readonly question: string;
  readonly createdBy: string;
  readonly opensAt: Date | null;
  readonly closesAt: Date | null;
  readonly options: readonly { readonly id: string; readonly label: string }[];
}

export interface PollPageQuery {
  readonly status: PollStatus | undefined;
  readonly limit: number;
  readonly after: { readonly createdAt: Date; readonly id: string } | undefined;
}

/** A transition that happened: which poll, and when PostgreSQL applied it. */
export interface AppliedTransition {
  readonly pollId: string;
  readonly at: Date;
}

export interface PollStore {
  insert(poll: NewPoll): Promise<PollRecord>;
  findByIds(ids: readonly string[]): Promise<PollRecord[]>;
  findOptionsByIds(ids: readonly string[]): Promise<OptionRecord[]>;
  /** Newest first by (createdAt, id); returns up to `limit` rows. */
  list(query: PollPageQuery): Promise<PollRecord[]>;
  /** DRAFT → OPEN now (opensAt becomes now unless it already passed); null if not applicable. */
  open(id: string): Promise<AppliedTransition | null>;
  /** OPEN → CLOSED now (closesAt becomes now unless it already passed); null if not applicable. */
  close(id: string): Promise<AppliedTransition | null>;
  /** Opens every DRAFT poll whose opensAt has come. */
  openDue(): Promise<AppliedTransition[]>;
  /** Closes every OPEN poll whose closesAt has come. */
  closeDue(): Promise<AppliedTransition[]>;
  /** The earliest scheduled transition still to apply, or null when none is scheduled. */
  nextDueAt(): Promise<Date | null>;
  ping(): Promise<void>;
}

const withOptions = { options: { orderBy: { position: 'asc' } } } as const;

interface TransitionRow {
  id: string;
  updated_at: Date;
}

function toTransitions(rows: readonly TransitionRow[]): AppliedTransition[] {
  return rows.map((row) => ({ pollId: row.id, at: row.updated_at }));
}

export function createPollStore(prisma: PrismaClient): PollStore {
  return {
    async insert(poll) {
      return prisma.poll.create({
        data: {
          id: poll.id,
          question: poll.question,
          createdBy: poll.createdBy,
          opensAt: poll.opensAt,
          closesAt: poll.closesAt,
          options: { create: poll.options.map((option, position) => ({ id: option.id, label: option.label, position })) },
        },
        include: withOptions,
      });
    },
    async findByIds(ids) {
      if (ids.length === 0) return [];
      return prisma.poll.findMany({ where: { id: { in: [...ids] } }, include: withOptions });
    },
    async findOptionsByIds(ids) {
      if (ids.length === 0) return [];
      return prisma.pollOption.findMany({ where: { id: { in: [...ids] } } });
    },
    async list({ status, limit, after }) {
      return prisma.poll.findMany({
        where: {
          ...(status ? { status } : {}),
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
        include: withOptions,
      });
    },
    async open(id) {
      const rows = await prisma.$queryRaw<TransitionRow[]>`
        UPDATE polls
           SET status = 'OPEN',
               opens_at = CASE WHEN opens_at IS NULL OR opens_at > now() THEN now() ELSE opens_at END,
               updated_at = now()
         WHERE id = ${id}::uuid AND status = 'DRAFT' AND (closes_at IS NULL OR closes_at > now())
        RETURNING id::text AS id, updated_at`;
      return toTransitions(rows)[0] ?? null;
    },
    async close(id) {
      const rows = await prisma.$queryRaw<TransitionRow[]>`
        UPDATE polls
           SET status = 'CLOSED',
               closes_at = CASE WHEN closes_at IS NULL OR closes_at > now() THEN now() ELSE closes_at END,
               updated_at = now()
         WHERE id = ${id}::uuid AND status = 'OPEN'
        RETURNING id::text AS id, updated_at`;
      return toTransitions(rows)[0] ?? null;
    },
    async openDue() {
      // A draft whose whole window passed (the service was down) still opens here and is closed by
      // the closeDue that follows, so its history reads DRAFT → OPEN → CLOSED like any other.
      return toTransitions(
        await prisma.$queryRaw<TransitionRow[]>`
          UPDATE polls SET status = 'OPEN', updated_at = now()
           WHERE status = 'DRAFT' AND opens_at <= now()
          RETURNING id::text AS id, updated_at`,
      );
    },
    async closeDue() {
      return toTransitions(
        await prisma.$queryRaw<TransitionRow[]>`
          UPDATE polls SET status = 'CLOSED', updated_at = now()
           WHERE status = 'OPEN' AND closes_at <= now()
          RETURNING id::text AS id, updated_at`,
      );
    },
    async nextDueAt() {
      const rows = await prisma.$queryRaw<{ due: Date | null }[]>`
        SELECT LEAST(
          (SELECT min(opens_at) FROM polls WHERE status = 'DRAFT' AND opens_at IS NOT NULL),
          (SELECT min(closes_at) FROM polls WHERE status = 'OPEN' AND closes_at IS NOT NULL)
        ) AS due`;
      return rows[0]?.due ?? null;
    },
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
  };
}
