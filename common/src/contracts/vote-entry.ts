// One entry of the `votes` Redis Stream (docs/contracts/vote-stream.md): appended by the vote
// subgraph's castVote, consumed by the tally worker. Stored as flat field/value pairs so the stream
// stays readable with redis-cli.
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

const MESSAGE = 'vote stream entry';
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function encodeVoteEntry(entry: VoteEntry): string[] {
  const fields = ['receiptId', entry.receiptId, 'pollId', entry.pollId, 'optionId', entry.optionId, 'voterId', entry.voterId, 'castAt', entry.castAt];
  if (entry.traceparent) fields.push('traceparent', entry.traceparent);
  return fields;
}

/** Parses the flat [field, value, …] list ioredis returns for a stream entry. */
export function parseVoteEntry(fields: readonly string[]): VoteEntry {
  if (fields.length % 2 !== 0) throw invalid(MESSAGE, '(root)', 'must have an even number of field/value items');
  const record: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1];
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
