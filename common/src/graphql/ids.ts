// Ids arrive as GraphQL `ID` strings. Every id votemesh issues is a UUID, and PostgreSQL would refuse
// a malformed one with an internal error, so an id argument is checked first and refused as
// BAD_USER_INPUT naming the argument. One function for every subgraph: a bad poll id reads the same
// whichever subgraph owns the field (`poll(id:)`, `pollResults(pollId:)`, `auditLog(filter:)`).
import { UUID_PATTERN } from '../contracts/parse.ts';
import { VotemeshError } from '../errors.ts';

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/** The id in canonical (lower-case) form, or BAD_USER_INPUT naming `field`. */
export function parseId(value: string, field: string): string {
  if (!isUuid(value)) {
    throw new VotemeshError('BAD_USER_INPUT', `${field} must be a UUID, got "${value.slice(0, 64)}"`, { details: { field } });
  }
  return value.toLowerCase();
}
