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

export interface ReceiptUpdate {
  readonly type: 'receipt';
  readonly receiptId: string;
  readonly pollId: string;
  readonly status: ReceiptStatus;
  readonly reason?: string;
  readonly updatedAt: string;
}

export interface PollStatusUpdate {
  readonly type: 'poll-status';
  readonly pollId: string;
  readonly status: PollStatus;
  readonly at: string;
}

export type BusMessage = TallyUpdate | ReceiptUpdate | PollStatusUpdate;
export type BusMessageType = BusMessage['type'];

const MESSAGE = 'bus message';

export function encodeBusMessage(message: BusMessage): string {
  return JSON.stringify(message);
}

export function parseBusMessage(text: string): BusMessage {
  const record = asRecord(MESSAGE, parseJson(MESSAGE, text));
  const type = oneOfField(MESSAGE, record, 'type', ['tally', 'receipt', 'poll-status']);
  switch (type) {
    case 'tally':
      return parseTally(record);
    case 'receipt': {
      const reason = optionalStringField(MESSAGE, record, 'reason', 1024);
      return {
        type,
        receiptId: uuidField(MESSAGE, record, 'receiptId'),
        pollId: uuidField(MESSAGE, record, 'pollId'),
        status: oneOfField(MESSAGE, record, 'status', RECEIPT_STATUSES),
        ...(reason ? { reason } : {}),
        updatedAt: isoTimeField(MESSAGE, record, 'updatedAt'),
      };
    }
    case 'poll-status':
      return {
        type,
        pollId: uuidField(MESSAGE, record, 'pollId'),
        status: oneOfField(MESSAGE, record, 'status', POLL_STATUSES),
        at: isoTimeField(MESSAGE, record, 'at'),
      };
  }
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
