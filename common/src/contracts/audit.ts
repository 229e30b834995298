// Audit actions and the event shape senders build before it goes over AuditIngest.RecordBatch
// (docs/contracts/audit.md).
export const AUDIT_ACTIONS = ['poll.created', 'poll.opened', 'poll.closed', 'vote.accepted', 'vote.counted', 'vote.superseded', 'vote.rejected'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEventDraft {
  readonly eventId: string;
  readonly at: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly subjectType: 'Poll' | 'Vote';
  readonly subjectId: string;
  readonly pollId?: string;
  readonly traceId?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * The spool write of an event that a caller makes durable inside its own Redis transaction:
 * `ZADD key score member`, to run on the Redis the sink's spool lives on.
 */
export interface AuditSpoolWrite {
  readonly key: string;
  readonly score: number;
  readonly member: string;
}

/** An event prepared by `AuditSink.stage`: its spool write for the caller's transaction, and how to record it after. */
export interface StagedAuditEvent {
  /** Absent when the sink keeps no spool or cannot send the event (`record` then handles it as `AuditSink.record` does). */
  readonly spoolWrite?: AuditSpoolWrite;
  /**
   * Records the event once the caller's transaction succeeded. `spooled`: its ZADD succeeded too;
   * when false the sink writes the event to its spool itself, as `AuditSink.record` does.
   */
  record(spooled: boolean): void;
}

/**
 * Where processes send audit events. The real one (common/src/grpc/audit-client.ts) keeps one
 * AuditIngest.RecordBatch client stream open and resends what was not acknowledged after a reconnect;
 * `record` never blocks the caller and never throws.
 */
export interface AuditSink {
  record(event: AuditEventDraft): void;
  /** Resolves when everything recorded so far has been handed to the audit service. */
  flush(timeoutMs?: number): Promise<void>;
  /**
   * Resolves once the events of \`eventIds\` (everything recorded so far, without it) are stored
   * durably (the real client's Redis spool) or confirmed, so a crash from then on loses none of
   * them; rejects when any of them could not be written (a later call writes them again). Sinks
   * that keep nothing durable (test doubles) leave it out, and callers treat that as nothing to wait for.
   */
  persisted?(eventIds?: readonly string[]): Promise<void>;
  /**
   * For an event that must be durable exactly when the caller's own Redis writes are (castVote's
   * `vote.accepted`): the ZADD to add to the caller's transaction, and `record` to call once that
   * transaction succeeded; a caller whose transaction failed records nothing. Never throws. Sinks
   * without a spool leave it out, and callers then `record` after their transaction.
   */
  stage?(event: AuditEventDraft): StagedAuditEvent;
  close(): Promise<void>;
}
