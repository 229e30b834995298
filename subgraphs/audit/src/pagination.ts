// Newest-first pages over seq. Cursors are opaque to clients (base64url of "audit:<seq>"); one
// that does not decode is BAD_USER_INPUT naming the argument.
import { VotemeshError } from '@votemesh/common/errors';
import type { AuditFilter, AuditStore, StoredEvent } from './store.ts';

export const MAX_PAGE_SIZE = 200;

export interface Connection {
  readonly edges: readonly { readonly cursor: string; readonly node: StoredEvent }[];
  readonly pageInfo: { readonly hasNextPage: boolean; readonly endCursor: string | null };
}

export function encodeCursor(seq: bigint): string {
  return Buffer.from(`audit:${seq}`).toString('base64url');
}

export function decodeCursor(value: string, field = 'after'): bigint {
  const match = /^audit:(\d{1,19})$/.exec(Buffer.from(value, 'base64url').toString('utf8'));
  if (!match?.[1]) throw new VotemeshError('BAD_USER_INPUT', `${field} is not a cursor returned by this API`, { details: { field } });
  return BigInt(match[1]);
}

export async function pageEvents(store: AuditStore, filter: AuditFilter, first: number, after: string | null | undefined): Promise<Connection> {
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw new VotemeshError('BAD_USER_INPUT', `first must be between 0 and ${MAX_PAGE_SIZE}, got ${first}`, { details: { field: 'first' } });
  }
  const beforeSeq = after === null || after === undefined ? undefined : decodeCursor(after);
  const rows = first === 0 ? [] : await store.list(filter, first + 1, beforeSeq);
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(node.seq), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
