// Ids arrive as GraphQL `ID` strings; PostgreSQL would reject a malformed uuid with an internal
// error, so they are checked here first and refused as BAD_USER_INPUT naming the argument.
import { VotemeshError } from '@votemesh/common/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The id in canonical (lower-case) form, or BAD_USER_INPUT naming `field`. */
export function parseId(value: string, field: string): string {
  if (!isUuid(value)) {
    throw new VotemeshError('BAD_USER_INPUT', `${field} must be a UUID, got "${value.slice(0, 64)}"`, { details: { field } });
  }
  return value.toLowerCase();
}
