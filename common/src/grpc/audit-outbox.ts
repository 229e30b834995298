// The audit client's outbox: recorded events not yet written to a call, oldest first, and how they
// pack into messages (bounded in events and bytes). Resends go back in at the front.
import type { AuditEventDraft } from '../contracts/audit.ts';
import type { AuditEntry } from './audit-call.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';

export interface OutboxLimits {
  readonly maxEvents: number;
  /** Counted with `estimateBytes`; one bigger event still makes a message of its own. */
  readonly maxBytes: number;
}

export interface Outbox {
  readonly length: number;
  /** Holds a full message (or more). */
  hasFullMessage(): boolean;
  push(entry: AuditEntry): void;
  /** Puts entries back in front of everything else, in their order. */
  requeue(entries: readonly AuditEntry[]): void;
  /** How many entries the next message takes when at most `room` fit, and whether it is full. */
  nextMessage(room: number): { readonly count: number; readonly full: boolean };
  take(count: number): AuditEntry[];
}

export function createOutbox(limits: OutboxLimits): Outbox {
  let entries: AuditEntry[] = [];
  let bytes = 0;
  return {
    get length() {
      return entries.length;
    },
    hasFullMessage: () => entries.length >= limits.maxEvents || bytes >= limits.maxBytes,
    push(entry) {
      entries.push(entry);
      bytes += entry.size;
    },
    requeue(resend) {
      for (const entry of resend) bytes += entry.size;
      entries = resend.concat(entries);
    },
    nextMessage(room) {
      const limit = Math.min(limits.maxEvents, room);
      let size = 0;
      let count = 0;
      for (const entry of entries) {
        if (count === limit || (count > 0 && size + entry.size > limits.maxBytes)) return { count, full: true };
        size += entry.size;
        count += 1;
      }
      return { count, full: count === limit };
    },
    take(count) {
      const taken = count >= entries.length ? entries : entries.slice(0, count);
      entries = count >= entries.length ? [] : entries.slice(count);
      for (const entry of taken) bytes -= entry.size;
      return taken;
    },
  };
}

/** The wire form of a draft; throws only when `data` cannot be JSON-encoded (a BigInt, a cycle). */
export function toAuditEntry(n: number, draft: AuditEventDraft): AuditEntry {
  return entryOf(n, {
    event_id: draft.eventId,
    at: draft.at,
    actor: draft.actor,
    action: draft.action,
    subject_type: draft.subjectType,
    subject_id: draft.subjectId,
    poll_id: draft.pollId ?? '',
    trace_id: draft.traceId ?? '',
    data_json: draft.data === undefined ? '' : JSON.stringify(draft.data),
  });
}

/** An entry for a message in wire form (a draft's, or one read back from the spool). */
export function entryOf(n: number, message: AuditEventInput, member?: string): AuditEntry {
  const units =
    (message.event_id?.length ?? 0) +
    (message.at?.length ?? 0) +
    (message.actor?.length ?? 0) +
    (message.action?.length ?? 0) +
    (message.subject_type?.length ?? 0) +
    (message.subject_id?.length ?? 0) +
    (message.poll_id?.length ?? 0) +
    (message.trace_id?.length ?? 0) +
    (message.data_json?.length ?? 0);
  // An upper bound of the encoded size: 3 bytes per UTF-16 code unit (UTF-8's worst case), plus tags and lengths.
  return { n, message, size: units * 3 + 40, ...(member === undefined ? {} : { member }) };
}
