// Messages published on Redis pub/sub after something became true in PostgreSQL or Redis
// (docs/contracts/bus.md). One tagged union; `parseBusMessage` is the only way bytes become one.
import { asRecord, invalid, isoTimeField, numberField, oneOfField, optionalStringField, parseJson, stringField, uuidField } from './parse.ts';

export const RECEIPT_STATUSES = ['PENDING', 'COUNTED', 'SUPERSEDED', 'REJECTED'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];
export const POLL_STATUSES = ['DRAFT', 'OPEN', 'CLOSED'] as const;
export type PollStatus = (typeof POLL_STATUSES)[number];

export interface OptionCount {
  readonly optionId: string;
  readonly votes: number;
}

/** The tally of one poll after a committed batch. `version` grows by one per batch. */
export interface TallyUpdate {
  readonly type: 'tally';
  readonly pollId: string;
  readonly version: number;
  readonly totalVotes: number;
  readonly options: readonly OptionCount[];
  readonly votesPerSecond: number;
  readonly updatedAt: string;
  /** Epoch milliseconds of the worker's commit: lets clients and benchmarks measure delivery latency. */
  readonly committedAtMs: number;
  readonly traceparent?: string;
}

/** One receipt's new status inside a `receipts` message (its time is the message's `updatedAt`). */
export interface ReceiptChange {
  readonly receiptId: string;
  readonly pollId: string;
  readonly status: ReceiptStatus;
  readonly reason?: string;
}

/** One receipt's new status on its own: castVote's PENDING, and final statuses from older workers. */
export interface ReceiptUpdate extends ReceiptChange {
  readonly type: 'receipt';
  readonly updatedAt: string;
}

/**
 * The receipts one worker batch (or one slice of it) changed, in one message instead of one
 * `receipt` message each: one PUBLISH per batch, one parse per batch in each subscriber.
 */
export interface ReceiptsUpdate {
  readonly type: 'receipts';
  readonly updatedAt: string;
  readonly receipts: readonly ReceiptChange[];
}

export interface PollStatusUpdate {
  readonly type: 'poll-status';
  readonly pollId: string;
  readonly status: PollStatus;
  readonly at: string;
}

/**
 * One committed audit event as it is stored (subgraphs/audit/src/store.ts); `seq` is a decimal
 * string because it is a 64-bit integer.
 */
export interface AuditBusEvent {
  readonly seq: string;
  readonly eventId: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subjectType: string;
  readonly subjectId: string;
  readonly pollId: string | null;
  readonly traceId: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  readonly prevHash: string;
  readonly hash: string;
}

/** Events one audit replica committed in one append (or one slice of it), in increasing seq order. */
export interface AuditAppended {
  readonly type: 'audit';
  readonly events: readonly AuditBusEvent[];
}

export type BusMessage = TallyUpdate | ReceiptUpdate | ReceiptsUpdate | PollStatusUpdate | AuditAppended;
export type BusMessageType = BusMessage['type'];

const MESSAGE = 'bus message';

export function encodeBusMessage(message: BusMessage): string {
  return JSON.stringify(message);
}

export function parseBusMessage(text: string): BusMessage {
  const record = asRecord(MESSAGE, parseJson(MESSAGE, text));
  const type = oneOfField(MESSAGE, record, 'type', ['tally', 'receipt', 'receipts', 'poll-status', 'audit']);
  switch (type) {
    case 'tally':
      return parseTally(record);
    case 'receipt':
      return { type, ...parseReceiptChange(MESSAGE, record), updatedAt: isoTimeField(MESSAGE, record, 'updatedAt') };
    case 'receipts':
      return parseReceipts(record);
    case 'poll-status':
      return {
        type,
        pollId: uuidField(MESSAGE, record, 'pollId'),
        status: oneOfField(MESSAGE, record, 'status', POLL_STATUSES),
        at: isoTimeField(MESSAGE, record, 'at'),
      };
    case 'audit':
      return parseAuditAppended(record);
  }
}

/** The longest `reason` a receipt message may carry (publishers clip longer ones). */
export const MAX_RECEIPT_REASON_LENGTH = 1024;

function parseReceiptChange(where: string, record: Record<string, unknown>): ReceiptChange {
  const reason = optionalStringField(where, record, 'reason', MAX_RECEIPT_REASON_LENGTH);
  return {
    receiptId: uuidField(where, record, 'receiptId'),
    pollId: uuidField(where, record, 'pollId'),
    status: oneOfField(where, record, 'status', RECEIPT_STATUSES),
    ...(reason ? { reason } : {}),
  };
}

/** Most receipts in one `receipts` message; the worker sends at most 500 (one per Lua chunk). */
export const MAX_RECEIPTS_PER_MESSAGE = 5000;

function parseReceipts(record: Record<string, unknown>): ReceiptsUpdate {
  const updatedAt = isoTimeField(MESSAGE, record, 'updatedAt');
  const receipts = record['receipts'];
  if (!Array.isArray(receipts) || receipts.length === 0) throw invalid(MESSAGE, 'receipts', 'must be a non-empty array');
  if (receipts.length > MAX_RECEIPTS_PER_MESSAGE) throw invalid(MESSAGE, 'receipts', `must hold at most ${MAX_RECEIPTS_PER_MESSAGE} receipts`);
  return {
    type: 'receipts',
    updatedAt,
    receipts: receipts.map((item: unknown, index) => {
      const where = `${MESSAGE} receipts[${index}]`;
      return parseReceiptChange(where, asRecord(where, item));
    }),
  };
}

/** Each change of a `receipts` message as the `receipt` message it stands for. */
export function receiptUpdatesOf(message: ReceiptsUpdate): ReceiptUpdate[] {
  return message.receipts.map((change) => ({ type: 'receipt', ...change, updatedAt: message.updatedAt }));
}

function parseTally(record: Record<string, unknown>): TallyUpdate {
  const options = record['options'];
  if (!Array.isArray(options)) throw invalid(MESSAGE, 'options', 'must be an array');
  const traceparent = optionalStringField(MESSAGE, record, 'traceparent', 55);
  return {
    type: 'tally',
    pollId: uuidField(MESSAGE, record, 'pollId'),
    version: numberField(MESSAGE, record, 'version'),
    totalVotes: numberField(MESSAGE, record, 'totalVotes'),
    options: options.map((item: unknown, index) => {
      const option = asRecord(`${MESSAGE} options[${index}]`, item);
      return { optionId: stringField(MESSAGE, option, 'optionId', 36), votes: numberField(MESSAGE, option, 'votes') };
    }),
    votesPerSecond: numberField(MESSAGE, record, 'votesPerSecond'),
    updatedAt: isoTimeField(MESSAGE, record, 'updatedAt'),
    committedAtMs: numberField(MESSAGE, record, 'committedAtMs'),
    ...(traceparent ? { traceparent } : {}),
  };
}

/** Most events in one `audit` message: the largest append batch (AUDIT_APPEND_MAX_BATCH). */
export const MAX_AUDIT_EVENTS_PER_MESSAGE = 5000;
const SEQ_PATTERN = /^[1-9][0-9]{0,18}$/;
const MAX_SEQ = 2n ** 63n - 1n;
const HASH_PATTERN = /^[0-9a-f]{64}$/;

function parseAuditAppended(record: Record<string, unknown>): AuditAppended {
  const events = record['events'];
  if (!Array.isArray(events) || events.length === 0) throw invalid(MESSAGE, 'events', 'must be a non-empty array');
  if (events.length > MAX_AUDIT_EVENTS_PER_MESSAGE) throw invalid(MESSAGE, 'events', `must hold at most ${MAX_AUDIT_EVENTS_PER_MESSAGE} events`);
  let previousSeq = 0n;
  return {
    type: 'audit',
    events: events.map((item: unknown, index) => {
      const where = `${MESSAGE} events[${index}]`;
      const event = parseAuditBusEvent(where, asRecord(where, item));
      // Subscribers deliver a message's events as they come; the order is part of the contract.
      const seq = BigInt(event.seq);
      if (seq <= previousSeq) throw invalid(where, 'seq', `must be greater than the previous event's seq ${previousSeq}`);
      previousSeq = seq;
      return event;
    }),
  };
}

function parseAuditBusEvent(where: string, record: Record<string, unknown>): AuditBusEvent {
  const seq = stringField(where, record, 'seq', 19);
  if (!SEQ_PATTERN.test(seq) || BigInt(seq) > MAX_SEQ) throw invalid(where, 'seq', `must be a positive 64-bit integer as a decimal string, got "${seq}"`);
  const data = record['data'];
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid(where, 'data', 'must be a JSON object');
  return {
    seq,
    eventId: uuidField(where, record, 'eventId'),
    at: isoTimeField(where, record, 'at'),
    actor: stringField(where, record, 'actor', 256),
    // Any non-empty action, not just AUDIT_ACTIONS: the event is already committed, and a replica
    // running an older release during a rolling upgrade must still relay actions it does not know.
    action: stringField(where, record, 'action', 64),
    subjectType: stringField(where, record, 'subjectType', 64),
    subjectId: stringField(where, record, 'subjectId', 256),
    pollId: record['pollId'] === null ? null : uuidField(where, record, 'pollId'),
    traceId: record['traceId'] === null ? null : stringField(where, record, 'traceId', 128),
    data: data as Record<string, unknown>,
    prevHash: hashField(where, record, 'prevHash'),
    hash: hashField(where, record, 'hash'),
  };
}

function hashField(where: string, record: Record<string, unknown>, field: string): string {
  const value = stringField(where, record, field, 64);
  if (!HASH_PATTERN.test(value)) throw invalid(where, field, 'must be 64 lowercase hex digits (sha256)');
  return value;
}
