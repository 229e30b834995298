// One AuditIngest call as the audit client sees it: opened on RecordBatch (many events per
// message) or, while the audit service is older than this client, on Record (one per message); it
// remembers what it wrote message by message, so an INVALID_ARGUMENT answer that names a position
// (or an event id) maps back to exactly the entry the server refused.
import { Metadata, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { AuditEventBatch } from './generated/votemesh/audit/v1/AuditEventBatch.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';
import type { AuditIngestClient } from './generated/votemesh/audit/v1/AuditIngest.ts';

/** Trailing metadata of an INVALID_ARGUMENT answer: the event id the server refused. */
export const AUDIT_INVALID_EVENT_ID_METADATA = 'x-votemesh-invalid-event-id';
/** Trailing metadata of an INVALID_ARGUMENT answer: the offending field. */
export const AUDIT_INVALID_FIELD_METADATA = 'x-votemesh-invalid-field';
/** Trailing metadata of a refused RecordBatch call: which message of the call (from 0) held the event… */
export const AUDIT_INVALID_MESSAGE_INDEX_METADATA = 'x-votemesh-invalid-message-index';
/** …and its index in that message's `events`. */
export const AUDIT_INVALID_BATCH_INDEX_METADATA = 'x-votemesh-invalid-batch-index';
/** Request metadata naming the sending process (logs on the server side). */
export const AUDIT_SOURCE_METADATA = 'x-votemesh-source';

/** One recorded event: `n` orders the buffer, `size` bounds a message. */
export interface AuditEntry {
  readonly n: number;
  readonly message: AuditEventInput;
  readonly size: number;
  /** Its member in the Redis spool (audit-spool.ts), when the client has one. */
  readonly member?: string;
}

/** `batch`: RecordBatch. `single`: Record, for an audit service that predates RecordBatch. */
export type IngestProtocol = 'batch' | 'single';

export interface IngestCall {
  readonly protocol: IngestProtocol;
  /** What was written, message by message (with `single`, one entry each). */
  readonly messages: AuditEntry[][];
  /** Events written so far. */
  readonly events: number;
  /** Writes `entries` as one message (`single`: one message each); false when the transport buffer is full. */
  write(entries: AuditEntry[]): boolean;
  onceDrained(listener: () => void): void;
  /** Half-closes: the server answers once everything written is committed. */
  end(): void;
}

export interface OpenIngestCallOptions {
  readonly client: AuditIngestClient;
  readonly protocol: IngestProtocol;
  readonly source: string;
  readonly deadlineMs: number;
  readonly onDone: (error: ServiceError | null) => void;
}

export function openIngestCall(options: OpenIngestCallOptions): IngestCall {
  const metadata = new Metadata();
  metadata.set(AUDIT_SOURCE_METADATA, options.source);
  const callOptions = { deadline: Date.now() + options.deadlineMs };
  const onDone = (error: ServiceError | null): void => options.onDone(error);
  const messages: AuditEntry[][] = [];
  let events = 0;
  let stream: ClientWritableStream<AuditEventBatch> | ClientWritableStream<AuditEventInput>;
  let writeMessages: (entries: AuditEntry[]) => boolean;
  if (options.protocol === 'batch') {
    const batches = options.client.RecordBatch(metadata, callOptions, onDone);
    stream = batches;
    writeMessages = (entries) => {
      messages.push(entries);
      return batches.write({ events: entries.map((entry) => entry.message) });
    };
  } else {
    const singles = options.client.Record(metadata, callOptions, onDone);
    stream = singles;
    writeMessages = (entries) => {
      let room = true;
      for (const entry of entries) {
        messages.push([entry]);
        room = singles.write(entry.message) && room;
      }
      return room;
    };
  }
  return {
    protocol: options.protocol,
    messages,
    get events() {
      return events;
    },
    write(entries) {
      events += entries.length;
      return writeMessages(entries);
    },
    onceDrained: (listener) => stream.once('drain', listener),
    end: () => stream.end(),
  };
}

/**
 * The entries an INVALID_ARGUMENT answer refuses: the one at the position it names (RecordBatch),
 * else every entry with the event id it names (Record; compared ignoring case, as the server
 * lowercases ids), else undefined: the answer names nothing this call sent.
 */
export function refusedEntries(call: IngestCall, error: ServiceError): AuditEntry[] | undefined {
  const metadata = error.metadata ?? new Metadata();
  const messageIndex = Number(metadata.get(AUDIT_INVALID_MESSAGE_INDEX_METADATA)[0]?.toString() ?? Number.NaN);
  const batchIndex = Number(metadata.get(AUDIT_INVALID_BATCH_INDEX_METADATA)[0]?.toString() ?? Number.NaN);
  const atPosition = call.messages[messageIndex]?.[batchIndex];
  if (atPosition !== undefined) return [atPosition];
  const eventId = metadata.get(AUDIT_INVALID_EVENT_ID_METADATA)[0]?.toString().toLowerCase();
  if (eventId === undefined) return undefined;
  const matching = call.messages.flat().filter((entry) => entry.message.event_id?.toLowerCase() === eventId);
  return matching.length > 0 ? matching : undefined;
}
