// gRPC AuditIngest.Record: a client-streaming call. Every message is validated at the edge; the
// first invalid one ends the call with INVALID_ARGUMENT naming the field and the event id (also
// in trailing metadata, so a client can drop exactly that event), and nothing of it is written.
// Valid events go to the batching appender; when the client half-closes and every event of the
// call is committed, the call answers RecordSummary. A failed append ends the call UNAVAILABLE:
// the client resends, and event ids make the resend idempotent.
import { Metadata, status, type ServerReadableStream, type StatusObject, type sendUnaryData } from '@grpc/grpc-js';
import type { AuditIngestHandlers } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditIngest';
import type { AuditEventInput__Output } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventInput';
import type { RecordSummary } from '@votemesh/common/grpc/generated/votemesh/audit/v1/RecordSummary';
import { AUDIT_INVALID_EVENT_ID_METADATA, AUDIT_INVALID_FIELD_METADATA, AUDIT_SOURCE_METADATA } from '@votemesh/common/grpc/audit-client';
import type { Logger } from '@votemesh/common/logger';
import type { Appender } from './appender.ts';
import type { AuditMetrics } from './metrics.ts';
import { InvalidAuditEvent, parseAuditEventInput } from './parse-event.ts';

export interface IngestOptions {
  readonly appender: Appender;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  /** Unconfirmed events per call before reading from it pauses. @default 2000 */
  readonly highWater?: number;
}

export function createIngestHandlers(options: IngestOptions): AuditIngestHandlers {
  const highWater = options.highWater ?? 2000;
  return {
    Record(call: ServerReadableStream<AuditEventInput__Output, RecordSummary>, callback: sendUnaryData<RecordSummary>) {
      options.metrics.ingestStreams.inc();
      const source = call.metadata.get(AUDIT_SOURCE_METADATA)[0]?.toString() ?? call.getPeer();
      let accepted = 0;
      let duplicates = 0;
      let lastSeq = 0n;
      let inFlight = 0;
      let paused = false;
      let halfClosed = false;
      let finished = false;

      const finish = (error: Partial<StatusObject> | null): void => {
        if (finished) return;
        finished = true;
        options.metrics.ingestStreams.dec();
        if (error) callback(error);
        else callback(null, { accepted, duplicates, last_seq: lastSeq.toString() });
      };
      const maybeFinish = (): void => {
        if (halfClosed && inFlight === 0) finish(null);
      };

      call.on('data', (input: AuditEventInput__Output) => {
        if (finished) return;
        let event;
        try {
          event = parseAuditEventInput(input);
        } catch (error) {
          if (!(error instanceof InvalidAuditEvent)) throw error;
          options.metrics.rejected.inc({ field: error.field });
          options.logger.warn({ source, field: error.field, eventId: error.eventId, reason: error.message }, 'audit ingest rejected an invalid event');
          const metadata = new Metadata();
          metadata.set(AUDIT_INVALID_FIELD_METADATA, error.field);
          if (error.eventId !== '') metadata.set(AUDIT_INVALID_EVENT_ID_METADATA, error.eventId);
          finish({ code: status.INVALID_ARGUMENT, details: error.message, metadata });
          return;
        }
        inFlight += 1;
        if (inFlight >= highWater && !paused) {
          paused = true;
          call.pause();
        }
        options.appender.submit(event).then(
          (outcome) => {
            inFlight -= 1;
            if (outcome.kind === 'appended') {
              accepted += 1;
              if (outcome.seq > lastSeq) lastSeq = outcome.seq;
            } else {
              duplicates += 1;
            }
            if (paused && inFlight < highWater / 4) {
              paused = false;
              call.resume();
            }
            maybeFinish();
          },
          (error: unknown) => {
            inFlight -= 1;
            const reason = error instanceof Error ? error.message : String(error);
            finish({ code: status.UNAVAILABLE, details: `audit append failed, resend: ${reason.slice(0, 200)}` });
          },
        );
      });
      call.on('end', () => {
        halfClosed = true;
        maybeFinish();
      });
      call.on('cancelled', () => {
        if (finished) return;
        finished = true;
        options.metrics.ingestStreams.dec();
        options.logger.debug({ source, accepted, duplicates }, 'audit ingest stream cancelled by the client');
      });
    },
  };
}
