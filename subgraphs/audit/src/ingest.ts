// gRPC AuditIngest: two client-streaming calls that differ only in how many events a message
// carries. RecordBatch takes AuditEventBatch messages (what current senders use); Record takes one
// AuditEventInput per message and stays served for senders from before RecordBatch (rolling
// upgrades, docs/contracts/audit.md). Every event is validated at the edge; the first invalid one
// ends the call with INVALID_ARGUMENT naming the field, the event id and, for a batch, its
// position (also in trailing metadata, so a client drops exactly that event), and nothing of its
// message is written. Valid messages go to the batching appender; when the client half-closes and
// every event of the call is committed, the call answers RecordSummary. A failed append ends the
// call UNAVAILABLE: the client resends, and event ids make the resend idempotent.
import { Metadata, status, type ServerReadableStream, type StatusObject, type sendUnaryData } from '@grpc/grpc-js';
import {
  AUDIT_INVALID_BATCH_INDEX_METADATA,
  AUDIT_INVALID_EVENT_ID_METADATA,
  AUDIT_INVALID_FIELD_METADATA,
  AUDIT_INVALID_MESSAGE_INDEX_METADATA,
  AUDIT_SOURCE_METADATA,
} from '@votemesh/common/grpc/audit-client';
import type { AuditIngestHandlers } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditIngest';
import type { RecordSummary } from '@votemesh/common/grpc/generated/votemesh/audit/v1/RecordSummary';
import type { Logger } from '@votemesh/common/logger';
import type { Appender } from './appender.ts';
import type { ChainedContent } from './chain.ts';
import type { AuditMetrics } from './metrics.ts';
import { InvalidAuditEvent, parseAuditEventBatch, parseAuditEventInput } from './parse-event.ts';

export interface IngestOptions {
  readonly appender: Appender;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  /** Unconfirmed events per call before reading from it pauses. @default 2000 */
  readonly highWater?: number;
}

export function createIngestHandlers(options: IngestOptions): AuditIngestHandlers {
  return {
    Record(call, callback) {
      serveIngestCall(call, callback, options, (input) => [parseAuditEventInput(input)]);
    },
    RecordBatch(call, callback) {
      serveIngestCall(call, callback, options, parseAuditEventBatch);
    },
  };
}

/** `parse` turns one message into its events, or throws InvalidAuditEvent for the whole message. */
function serveIngestCall<Message>(
  call: ServerReadableStream<Message, RecordSummary>,
  callback: sendUnaryData<RecordSummary>,
  options: IngestOptions,
  parse: (message: Message, messageIndex: number) => ChainedContent[],
): void {
  const highWater = options.highWater ?? 2000;
  options.metrics.ingestStreams.inc();
  const source = call.metadata.get(AUDIT_SOURCE_METADATA)[0]?.toString() ?? call.getPeer();
  let messages = 0;
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
  const refuse = (error: InvalidAuditEvent): void => {
    options.metrics.rejected.inc({ field: error.field });
    options.logger.warn(
      { source, field: error.field, eventId: error.eventId, ...error.position, reason: error.message },
      'audit ingest rejected an invalid event',
    );
    const metadata = new Metadata();
    metadata.set(AUDIT_INVALID_FIELD_METADATA, error.field);
    if (error.eventId !== '') metadata.set(AUDIT_INVALID_EVENT_ID_METADATA, error.eventId);
    if (error.position) {
      metadata.set(AUDIT_INVALID_MESSAGE_INDEX_METADATA, String(error.position.messageIndex));
      metadata.set(AUDIT_INVALID_BATCH_INDEX_METADATA, String(error.position.batchIndex));
    }
    finish({ code: status.INVALID_ARGUMENT, details: error.message, metadata });
  };

  call.on('data', (message: Message) => {
    if (finished) return;
    let events: ChainedContent[];
    try {
      events = parse(message, messages);
    } catch (error) {
      if (error instanceof InvalidAuditEvent) return refuse(error);
      // Never rethrown: this runs in a grpc-js event listener, where a throw is uncaught and takes
      // the whole process down with every other stream's queued events (and the sender, resending
      // to the next replica, takes that one down too). The call ends here, the process stays up.
      options.logger.error({ err: error, source, messageIndex: messages }, 'audit ingest could not parse a message');
      return finish({ code: status.INTERNAL, details: `audit ingest could not parse message ${messages} of the call` });
    } finally {
      messages += 1;
    }
    inFlight += events.length;
    if (inFlight >= highWater && !paused) {
      paused = true;
      call.pause();
    }
    options.appender.submit(events).then(
      (outcome) => {
        inFlight -= events.length;
        accepted += outcome.appended;
        duplicates += outcome.duplicates;
        if (outcome.lastSeq > lastSeq) lastSeq = outcome.lastSeq;
        if (paused && inFlight < highWater / 4) {
          paused = false;
          call.resume();
        }
        maybeFinish();
      },
      (error: unknown) => {
        inFlight -= events.length;
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
}
