// Builds audit drafts with the fields every event carries: a fresh id, the time, and the trace id
// of the active span (so the audit log links to the trace).
import { randomUUID } from 'node:crypto';
import type { AuditEventDraft } from '@votemesh/common/contracts/audit';
import { activeTraceId } from '@votemesh/common/telemetry/propagation';

export function auditEvent(fields: Omit<AuditEventDraft, 'eventId' | 'at' | 'traceId'>, at: Date = new Date()): AuditEventDraft {
  const traceId = activeTraceId();
  return { eventId: randomUUID(), at: at.toISOString(), ...fields, ...(traceId ? { traceId } : {}) };
}
