// Opaque page cursors over (createdAt, id): base64url of a small JSON pair. Clients must treat
// them as opaque; anything that does not decode is BAD_USER_INPUT naming the argument.
import { VotemeshError } from '@votemesh/common/errors';
import { isUuid } from '@votemesh/common/graphql/ids';

export interface PollCursor {
  readonly createdAt: Date;
  readonly id: string;
}

export function encodeCursor(cursor: PollCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url');
}

export function decodeCursor(value: string, field = 'after'): PollCursor {
  const invalid = new VotemeshError('BAD_USER_INPUT', `${field} is not a cursor returned by this API`, { details: { field } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid;
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !isUuid(id)) throw invalid;
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime())) throw invalid;
  return { createdAt, id: id.toLowerCase() };
}
