// One entry of the `votes` Redis Stream (docs/contracts/vote-stream.md): appended by the vote
// subgraph's castVote, consumed by the tally worker. Written as one field, `vote`, holding the
// vote as a JSON object: ioredis decodes two bulk strings per entry instead of twelve, which was
// the largest cost per vote in the worker. Entries in the legacy layout (one field per value)
// are still read, because vote subgraphs older than this contract keep writing them during a
// rolling upgrade and entries already queued must still count.
import { invalid, isoTimeField, optionalStringField, stringField, uuidField } from './parse.ts';

export interface VoteEntry {
  readonly receiptId: string;
  readonly pollId: string;
  readonly optionId: string;
  readonly voterId: string;
  /** ISO-8601 time the vote subgraph accepted the vote. */
  readonly castAt: string;
  /** W3C trace context of the castVote span, so the worker's batch span can link to it. */
  readonly traceparent?: string;
}

/** The one field of an entry in the current layout; its value is the vote as a JSON object. */
export const VOTE_FIELD = 'vote';

const MESSAGE = 'vote stream entry';
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The stream fields of `entry`: `vote` and the JSON object, keys in a fixed order. */
export function encodeVoteEntry(entry: VoteEntry): [typeof VOTE_FIELD, string] {
  // Listed one by one so a caller's object with more properties writes only the contract's keys.
  const vote: VoteEntry = {
    receiptId: entry.receiptId,
    pollId: entry.pollId,
    optionId: entry.optionId,
    voterId: entry.voterId,
    castAt: entry.castAt,
    ...(entry.traceparent ? { traceparent: entry.traceparent } : {}),
  };
  return [VOTE_FIELD, JSON.stringify(vote)];
}

/** Whether `fields` is an entry in the current layout; anything else is read as the legacy one. */
export function isJsonVoteEntry(fields: readonly string[]): fields is readonly [typeof VOTE_FIELD, string] {
  return fields.length === 2 && fields[0] === VOTE_FIELD;
}

/** The JSON object in a `vote` field, or an INVALID_MESSAGE error naming the field. */
export function decodeVoteJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(MESSAGE, VOTE_FIELD, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(MESSAGE, VOTE_FIELD, 'must be a JSON object');
  return value as Record<string, unknown>;
}

/**
 * Parses the flat [field, value, …] list ioredis returns for a stream entry, in either layout.
 * Keys the contract does not name are ignored, in the JSON object as among legacy fields.
 */
export function parseVoteEntry(fields: readonly string[]): VoteEntry {
  const record = isJsonVoteEntry(fields) ? decodeVoteJson(fields[1]) : legacyRecord(fields);
  const traceparent = optionalStringField(MESSAGE, record, 'traceparent', 55);
  if (traceparent !== undefined && !TRACEPARENT.test(traceparent)) throw invalid(MESSAGE, 'traceparent', 'must be a W3C traceparent');
  return {
    receiptId: uuidField(MESSAGE, record, 'receiptId'),
    pollId: uuidField(MESSAGE, record, 'pollId'),
    optionId: uuidField(MESSAGE, record, 'optionId'),
    voterId: stringField(MESSAGE, record, 'voterId', 128),
    castAt: isoTimeField(MESSAGE, record, 'castAt'),
    ...(traceparent ? { traceparent } : {}),
  };
}

function legacyRecord(fields: readonly string[]): Record<string, unknown> {
  if (fields.length % 2 !== 0) throw invalid(MESSAGE, '(root)', 'must have an even number of field/value items');
  const record: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1];
  return record;
}

/** The largest PostgreSQL bigint: the ballots table stores both halves of a stream id as bigint. */
const MAX_BIGINT = 2n ** 63n - 1n;

/**
 * A Redis stream id `<ms>-<seq>` split into its two parts, for ordering ballots. Redis allows
 * halves up to 2^64 - 1 (an explicit XADD id); anything above PostgreSQL's bigint is refused here
 * rather than failing the worker's batch statement.
 */
export function parseStreamId(id: string): { ms: bigint; seq: bigint } {
  const match = /^(\d+)-(\d+)$/.exec(id);
  if (!match) throw invalid(MESSAGE, 'id', `must be a stream id "<ms>-<seq>", got "${id}"`);
  const ms = BigInt(match[1] as string);
  const seq = BigInt(match[2] as string);
  if (ms > MAX_BIGINT || seq > MAX_BIGINT) throw invalid(MESSAGE, 'id', `must have both parts at most ${MAX_BIGINT}, got "${id}"`);
  return { ms, seq };
}
