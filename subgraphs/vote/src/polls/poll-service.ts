// Poll lifecycle: create (DRAFT), open (DRAFT → OPEN), close (OPEN → CLOSED), by an admin or by
// the schedule. Every change is announced the same way: a poll-status bus message (which drives
// the pollStatus subscription and the castVote caches of every replica), an audit event and a metric.
import { randomUUID } from 'node:crypto';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import type { PollStatus } from '@votemesh/common/contracts/bus';
import type { Identity } from '@votemesh/common/contracts/identity';
import { VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import type { EventBus } from '@votemesh/common/bus/event-bus';
import { auditEvent } from '../audit.ts';
import type { VoteMetrics } from '../metrics.ts';
import { validatePollInput, type CreatePollInput } from './poll-input.ts';
import type { AppliedTransition, PollRecord, PollStore } from './poll-store.ts';

export type TransitionTrigger = 'admin' | 'schedule';

/** The actor recorded in the audit log for scheduled transitions. */
export const SCHEDULER_ACTOR = 'system:scheduler';

export interface PollService {
  create(admin: Identity, input: CreatePollInput): Promise<PollRecord>;
  open(admin: Identity, id: string): Promise<PollRecord>;
  close(admin: Identity, id: string): Promise<PollRecord>;
  /** Applies every scheduled transition that is due; returns how many were applied. */
  applyDue(): Promise<number>;
}

export interface PollServiceDeps {
  readonly store: PollStore;
  readonly bus: EventBus;
  readonly audit: AuditSink;
  readonly metrics: VoteMetrics;
  readonly logger: Logger;
  /** Called for every poll this process changed, before the bus echo arrives. */
  readonly onChanged?: (pollId: string) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

const AUDIT_ACTION = { DRAFT: 'poll.created', OPEN: 'poll.opened', CLOSED: 'poll.closed' } as const;

export function createPollService(deps: PollServiceDeps): PollService {
  const { store, bus, audit, metrics, logger } = deps;
  const now = deps.now ?? (() => new Date());

  async function announce(
    pollId: string,
    status: PollStatus,
    at: Date,
    actor: string,
    trigger: TransitionTrigger,
    data: Record<string, unknown>,
  ): Promise<void> {
    deps.onChanged?.(pollId);
    metrics.pollTransitions.inc({ status, trigger });
    audit.record(auditEvent({ actor, action: AUDIT_ACTION[status], subjectType: 'Poll', subjectId: pollId, pollId, data: { trigger, ...data } }, at));
    logger.info({ pollId, status, trigger, actor }, 'poll status changed');
    try {
      await bus.publish({ type: 'poll-status', pollId, status, at: at.toISOString() });
    } catch (error) {
      // PostgreSQL already holds the change and this replica's cache entry is gone (onChanged).
      // Other replicas keep their cached poll until its TTL (POLL_CACHE_TTL_MS) ends; a vote they
      // accept after a close meanwhile is rejected by the worker (cast after closesAt).
      logger.error({ err: error, pollId, status }, 'could not publish a poll-status message');
    }
  }

  async function load(id: string): Promise<PollRecord> {
    const [poll] = await store.findByIds([id]);
    if (!poll) throw new VotemeshError('POLL_NOT_FOUND', `No poll has id ${id}`);
    return poll;
  }

  async function transition(
    admin: Identity,
    id: string,
    status: 'OPEN' | 'CLOSED',
    apply: (id: string) => Promise<AppliedTransition | null>,
  ): Promise<PollRecord> {
    const applied = await apply(id);
    // Drop this replica's cached poll as soon as the change committed, not after the read-back and
    // announce below: until then castVote here kept accepting votes from the cached OPEN poll. The
    // worker rejects a vote cast after closes_at anyway (castAt decides), but such a vote should be
    // refused at once rather than answered PENDING and rejected later. announce drops it again: a
    // castVote that read the poll between the two is served the committed state, so that is harmless.
    if (applied) deps.onChanged?.(id);
    const poll = await load(id);
    if (!applied) throw conflict(poll, status, now());
    await announce(id, status, applied.at, admin.subject, 'admin', {});
    return poll;
  }

  return {
    async create(admin, input) {
      const valid = validatePollInput(input, now());
      const poll = await store.insert({
        id: randomUUID(),
        question: valid.question,
        createdBy: admin.subject,
        opensAt: valid.opensAt,
        closesAt: valid.closesAt,
        options: valid.options.map((label) => ({ id: randomUUID(), label })),
      });
      await announce(poll.id, 'DRAFT', poll.createdAt, admin.subject, 'admin', {
        question: poll.question,
        options: poll.options.map((option) => ({ id: option.id, label: option.label })),
        opensAt: poll.opensAt?.toISOString() ?? null,
        closesAt: poll.closesAt?.toISOString() ?? null,
      });
      return poll;
    },
    open: (admin, id) => transition(admin, id, 'OPEN', (pollId) => store.open(pollId)),
    close: (admin, id) => transition(admin, id, 'CLOSED', (pollId) => store.close(pollId)),
    async applyDue() {
      // Opening first lets a poll whose whole window passed open and close in one sweep.
      const opened = await store.openDue();
      for (const { pollId, at } of opened) await announce(pollId, 'OPEN', at, SCHEDULER_ACTOR, 'schedule', {});
      const closed = await store.closeDue();
      for (const { pollId, at } of closed) await announce(pollId, 'CLOSED', at, SCHEDULER_ACTOR, 'schedule', {});
      return opened.length + closed.length;
    },
  };
}

function conflict(poll: PollRecord, wanted: 'OPEN' | 'CLOSED', at: Date): VotemeshError {
  const details = { details: { status: poll.status } };
  if (wanted === 'OPEN') {
    if (poll.status === 'DRAFT' && poll.closesAt && poll.closesAt.getTime() <= at.getTime()) {
      return new VotemeshError('POLL_STATE_CONFLICT', `Poll ${poll.id} cannot open: its closesAt (${poll.closesAt.toISOString()}) has passed`, details);
    }
    return new VotemeshError('POLL_STATE_CONFLICT', `Poll ${poll.id} is ${poll.status}; only a DRAFT poll can be opened`, details);
  }
  return new VotemeshError('POLL_STATE_CONFLICT', `Poll ${poll.id} is ${poll.status}; only an OPEN poll can be closed`, details);
}
