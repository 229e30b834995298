// How an event enters the audit client: `record` (validated, written to the spool, held and queued
// for sending; never throws), `stage` (its spool write goes in the caller's own Redis transaction
// instead), adoption from the spool, and `persisted`, which waits for recorded events to be durable.
// A repeat of a held event is not held twice; while memory is full a new event goes to the spool
// only (adoption sends it once there is room), and without a spool it is dropped, loudly.
import type { AuditEventDraft, StagedAuditEvent } from '../contracts/audit.ts';
import { UUID_PATTERN } from '../contracts/parse.ts';
import type { Logger } from '../logger.ts';
import type { AuditEntry } from './audit-call.ts';
import type { AuditClientMetrics, AuditDropReason } from './audit-client-metrics.ts';
import type { AuditClientCounts } from './audit-client-options.ts';
import type { HeldEvents } from './audit-held.ts';
import { entryOf, toAuditEntry } from './audit-outbox.ts';
import type { AuditSender } from './audit-sender.ts';
import { spoolMember, type AuditSpool } from './audit-spool.ts';
import type { SpoolWriter } from './audit-spool-writer.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';

export interface AuditIntakeOptions {
  readonly logger: Logger;
  readonly source: string;
  /** Entries held in memory at most; beyond it new events go to the spool only (or are dropped without one). */
  readonly maxBuffered: number;
  /** With `spoolWriter`, or neither. */
  readonly spool: AuditSpool | undefined;
  readonly spoolWriter: SpoolWriter | undefined;
  readonly held: HeldEvents;
  readonly sender: AuditSender;
  readonly counts: AuditClientCounts;
  readonly metrics: AuditClientMetrics;
}

export interface AuditIntake {
  record(draft: AuditEventDraft): void;
  stage(draft: AuditEventDraft): StagedAuditEvent;
  /** AuditClient.persisted. */
  persisted(eventIds: readonly string[] | undefined): Promise<void>;
  /** Holds an event adopted from the spool (the adopter then sends the round at once). */
  adopt(message: AuditEventInput, member: string): void;
  /** Room in memory for adopted events: none once stopped. */
  room(): number;
  /** Takes no more events: `record` drops them (a staged one stays in the spool for the next start). */
  stop(): void;
}

export function createAuditIntake(options: AuditIntakeOptions): AuditIntake {
  const { logger, maxBuffered, spool, spoolWriter, held, sender, counts, metrics } = options;
  /** Members of events recorded while memory was full, by event id (lowercase), until their one spool write is done. */
  const overflowing = new Map<string, string>();
  let accepting = true;
  let lastDropLogAt = 0;

  function hold(entry: AuditEntry): void {
    held.hold(entry);
    sender.queue(entry);
  }

  function drop(reason: string, metricReason: AuditDropReason, extra: object = {}): void {
    counts.dropped += 1;
    metrics.dropped(metricReason);
    const now = Date.now();
    // Loud but bounded: the first drop, then at most one line per second with the running count.
    if (counts.dropped === 1 || now - lastDropLogAt >= 1000) {
      lastDropLogAt = now;
      logger.error({ ...extra, reason, dropped: counts.dropped, buffered: held.size, maxBuffered, source: options.source }, 'audit events dropped');
    }
  }

  function record(draft: AuditEventDraft): void {
    try {
      if (!accepting) return drop('the audit client is closed', 'closed', { eventId: draft.eventId });
      if (!UUID_PATTERN.test(draft.eventId)) return drop('eventId is not a UUID', 'invalid_id', { eventId: draft.eventId });
      const id = draft.eventId.toLowerCase();
      // Already held (a settle retried, a copy adopted from the spool): sending it once is enough,
      // but if its spool write failed, it is written again (the retry waits for that in persisted).
      const already = held.get(id);
      if (already) {
        if (already.member !== undefined) spoolWriter?.retry(already.member);
        return;
      }
      if (overflowing.has(id)) return;
      const built = toAuditEntry(held.nextNumber(), draft);
      if (held.size >= maxBuffered) {
        if (!spoolWriter) return drop('the audit buffer is full (the audit service is down or slow)', 'buffer_full');
        // Memory is full: keep it in the spool only; adoption sends it once there is room. Written
        // through the writer like the rest, so persisted() waits for it and close() lets it finish.
        const member = spoolMember(built.message);
        overflowing.set(id, member);
        spoolWriter.add(member, (error) => {
          overflowing.delete(id);
          if (error !== undefined) return drop('the audit buffer is full and the spool could not take the event', 'buffer_full', { eventId: draft.eventId });
          counts.overflowed += 1;
          metrics.overflowed();
        });
        return;
      }
      const entry = spoolWriter ? { ...built, member: spoolMember(built.message) } : built;
      // The spool write is issued (next microtask) before the pump can write the event to a call.
      if (entry.member !== undefined) spoolWriter?.add(entry.member);
      hold(entry);
      sender.sendSoon();
    } catch (error) {
      // JSON.stringify of `data` (a BigInt, a cycle) is the only thing above that can throw.
      drop('the event could not be encoded', 'unencodable', { eventId: draft.eventId, err: error });
    }
  }

  function stage(draft: AuditEventDraft): StagedAuditEvent {
    // Without a spool, or for an event `record` would drop anyway: recorded (and reported) as usual.
    const asUsual: StagedAuditEvent = { record: () => record(draft) };
    if (!spool || !UUID_PATTERN.test(draft.eventId)) return asUsual;
    let message: AuditEventInput;
    try {
      message = toAuditEntry(0, draft).message;
    } catch {
      return asUsual;
    }
    const member = spoolMember(message);
    return {
      spoolWrite: { key: spool.key, score: Date.now(), member },
      record: (spooled) => (spooled ? recordSpooled(message, member) : record(draft)),
    };
  }

  /** An event its caller's transaction wrote to the spool: held and sent like the rest, not written again. */
  function recordSpooled(message: AuditEventInput, member: string): void {
    // It is durable whatever happens here: once closed, the next start (or a sibling) adopts it.
    if (!accepting) return;
    const id = (message.event_id ?? '').toLowerCase();
    if (held.get(id) !== undefined || overflowing.has(id)) return;
    if (held.size >= maxBuffered) {
      // Memory is full: it waits in the spool, like an overflow, and is adopted once there is room.
      counts.overflowed += 1;
      metrics.overflowed();
      return;
    }
    hold(entryOf(held.nextNumber(), message, member));
    sender.sendSoon();
  }

  function persisted(eventIds: readonly string[] | undefined): Promise<void> {
    if (!spoolWriter) return Promise.resolve();
    if (eventIds === undefined) return spoolWriter.persisted();
    const members: string[] = [];
    for (const eventId of eventIds) {
      const id = eventId.toLowerCase();
      // Neither held nor overflowing: confirmed already (or never recorded), nothing to wait for.
      const member = held.get(id)?.member ?? overflowing.get(id);
      if (member !== undefined) members.push(member);
    }
    return spoolWriter.persisted(members);
  }

  return {
    record,
    stage,
    persisted,
    adopt: (message, member) => hold(entryOf(held.nextNumber(), message, member)),
    room: () => (accepting ? maxBuffered - held.size : 0),
    stop() {
      accepting = false;
    },
  };
}
