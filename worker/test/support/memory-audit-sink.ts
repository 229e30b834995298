// An AuditSink that keeps what it is given, for assertions.
import type { AuditEventDraft, AuditSink } from '@votemesh/common/contracts/audit';

export interface MemoryAuditSink extends AuditSink {
  readonly events: AuditEventDraft[];
}

export function createMemoryAuditSink(): MemoryAuditSink {
  const events: AuditEventDraft[] = [];
  return {
    events,
    record: (event) => void events.push(event),
    flush: async () => undefined,
    close: async () => undefined,
  };
}
