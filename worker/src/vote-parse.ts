// The worker's parser for `votes` stream entries: the same contract, checks and error messages as
// parseVoteEntry (common/src/contracts/vote-entry.ts), field for field and in the same order, so
// the first wrong field is the one named, but without building a record object per entry: at 50k
// entries/s the intermediate objects are most of what the parse costs. Both layouts are read: the
// single `vote` JSON field (the object JSON.parse builds is the only one made) and the legacy
// field-per-value list older vote subgraphs write. test/vote-parse.test.ts holds the two parsers
// to agreement on a table of good and bad entries; a change to the contract goes into both.
import { invalid, unstorableTextProblem, UUID_PATTERN } from '@votemesh/common/contracts/parse';
import { decodeVoteJson, isJsonVoteEntry, type VoteEntry } from '@votemesh/common/contracts/vote-entry';

const MESSAGE = 'vote stream entry';
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function parseVoteFields(fields: readonly string[]): VoteEntry {
  if (isJsonVoteEntry(fields)) {
    const vote = decodeVoteJson(fields[1]);
    return checkVote(vote['receiptId'], vote['pollId'], vote['optionId'], vote['voterId'], vote['castAt'], vote['traceparent']);
  }
  if (fields.length % 2 !== 0) throw invalid(MESSAGE, '(root)', 'must have an even number of field/value items');
  let receiptId: string | undefined;
  let pollId: string | undefined;
  let optionId: string | undefined;
  let voterId: string | undefined;
  let castAt: string | undefined;
  let traceparent: string | undefined;
  // A repeated field keeps its last value, as the record in parseVoteEntry does.
  for (let i = 0; i < fields.length; i += 2) {
    const value = fields[i + 1];
    switch (fields[i]) {
      case 'receiptId':
        receiptId = value;
        break;
      case 'pollId':
        pollId = value;
        break;
      case 'optionId':
        optionId = value;
        break;
      case 'voterId':
        voterId = value;
        break;
      case 'castAt':
        castAt = value;
        break;
      case 'traceparent':
        traceparent = value;
        break;
    }
  }
  return checkVote(receiptId, pollId, optionId, voterId, castAt, traceparent);
}

/** The values as read from either layout; JSON may hold any type where the contract wants a string. */
function checkVote(receiptId: unknown, pollId: unknown, optionId: unknown, voterId: unknown, castAt: unknown, traceparent: unknown): VoteEntry {
  // Absent, as optionalStringField has it: missing, null or empty.
  const tracing = traceparent === undefined || traceparent === null || traceparent === '' ? undefined : checkString('traceparent', traceparent, 55);
  if (tracing !== undefined && !TRACEPARENT.test(tracing)) throw invalid(MESSAGE, 'traceparent', 'must be a W3C traceparent');
  const receipt = checkUuid('receiptId', receiptId);
  const poll = checkUuid('pollId', pollId);
  const option = checkUuid('optionId', optionId);
  const voter = checkString('voterId', voterId, 128);
  const cast = checkIsoTime('castAt', castAt);
  return tracing === undefined
    ? { receiptId: receipt, pollId: poll, optionId: option, voterId: voter, castAt: cast }
    : { receiptId: receipt, pollId: poll, optionId: option, voterId: voter, castAt: cast, traceparent: tracing };
}

function checkString(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(MESSAGE, field, 'must be a non-empty string');
  if (value.length > maxLength) throw invalid(MESSAGE, field, `must be at most ${maxLength} characters`);
  const problem = unstorableTextProblem(value);
  if (problem !== undefined) throw invalid(MESSAGE, field, problem);
  return value;
}

function checkUuid(field: string, value: unknown): string {
  const text = checkString(field, value, 36);
  if (!UUID_PATTERN.test(text)) throw invalid(MESSAGE, field, `must be a UUID, got "${text}"`);
  return text.toLowerCase();
}

function checkIsoTime(field: string, value: unknown): string {
  const text = checkString(field, value, 40);
  if (Number.isNaN(Date.parse(text))) throw invalid(MESSAGE, field, `must be an ISO-8601 time, got "${text}"`);
  return text;
}
