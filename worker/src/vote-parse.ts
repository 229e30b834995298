// The worker's parser for `votes` stream entries: the same contract, checks and error messages as
// parseVoteEntry (common/src/contracts/vote-entry.ts), field for field and in the same order, so
// the first wrong field is the one named, but without building a record object per entry: at 50k
// entries/s the intermediate objects are most of what the parse costs. test/vote-parse.test.ts
// holds the two to agreement on a table of good and bad entries; a change to the contract goes
// into both.
import { invalid, unstorableTextProblem, UUID_PATTERN } from '@votemesh/common/contracts/parse';
import type { VoteEntry } from '@votemesh/common/contracts/vote-entry';

const MESSAGE = 'vote stream entry';
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function parseVoteFields(fields: readonly string[]): VoteEntry {
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
  if (traceparent === '') traceparent = undefined;
  if (traceparent !== undefined && !TRACEPARENT.test(checkString('traceparent', traceparent, 55)))
    throw invalid(MESSAGE, 'traceparent', 'must be a W3C traceparent');
  const entry = {
    receiptId: checkUuid('receiptId', receiptId),
    pollId: checkUuid('pollId', pollId),
    optionId: checkUuid('optionId', optionId),
    voterId: checkString('voterId', voterId, 128),
    castAt: checkIsoTime('castAt', castAt),
  };
  return traceparent === undefined ? entry : { ...entry, traceparent };
}

function checkString(field: string, value: string | undefined, maxLength: number): string {
  if (value === undefined || value.length === 0) throw invalid(MESSAGE, field, 'must be a non-empty string');
  if (value.length > maxLength) throw invalid(MESSAGE, field, `must be at most ${maxLength} characters`);
  const problem = unstorableTextProblem(value);
  if (problem !== undefined) throw invalid(MESSAGE, field, problem);
  return value;
}

function checkUuid(field: string, value: string | undefined): string {
  const text = checkString(field, value, 36);
  if (!UUID_PATTERN.test(text)) throw invalid(MESSAGE, field, `must be a UUID, got "${text}"`);
  return text.toLowerCase();
}

function checkIsoTime(field: string, value: string | undefined): string {
  const text = checkString(field, value, 40);
  if (Number.isNaN(Date.parse(text))) throw invalid(MESSAGE, field, `must be an ISO-8601 time, got "${text}"`);
  return text;
}
