// What a stream entry becomes: a parsed vote with its stream position, or a malformed entry; and
// the outcome the worker decides for it. Receipt statuses and audit actions follow from these.
import { decodeVoteJson, isJsonVoteEntry, parseStreamId, type VoteEntry } from '@votemesh/common/contracts/vote-entry';
import { unstorableTextProblem, UUID_PATTERN } from '@votemesh/common/contracts/parse';
import type { StreamEntry } from './stream.ts';
import { parseVoteFields } from './vote-parse.ts';

export interface StreamPosition {
  readonly ms: bigint;
  readonly seq: bigint;
}

export interface ParsedVote extends StreamPosition {
  readonly id: string;
  readonly entry: VoteEntry;
}

/** An entry that cannot be applied; acked anyway so it never blocks the group. */
export interface MalformedEntry {
  readonly id: string;
  readonly reason: string;
  /** Best-effort fields, so the receipt (if any) can still be marked REJECTED. */
  readonly receiptId?: string;
  readonly pollId?: string;
  readonly voterId?: string;
  /** So the batch span still links to the castVote that wrote it. */
  readonly traceparent?: string;
}

export type VoteOutcome =
  | { readonly status: 'COUNTED'; readonly change: 'new' | 'changed' | 'same-option' | 'replay' }
  | { readonly status: 'SUPERSEDED'; readonly reason: string }
  | { readonly status: 'REJECTED'; readonly reason: string };

export interface SplitEntries {
  readonly votes: ParsedVote[];
  readonly malformed: MalformedEntry[];
  /** Ids whose entry was deleted while pending: nothing to apply, only to acknowledge. */
  readonly gone: string[];
}

/** 9999-12-31T23:59:59.999Z: anything later is a bug upstream, not a vote. */
const LATEST_CAST_AT_MS = 253_402_300_799_999;

export function compareStreamIds(a: StreamPosition, b: StreamPosition): number {
  if (a.ms !== b.ms) return a.ms > b.ms ? 1 : -1;
  if (a.seq !== b.seq) return a.seq > b.seq ? 1 : -1;
  return 0;
}

export function splitEntries(entries: readonly StreamEntry[]): SplitEntries {
  const votes: ParsedVote[] = [];
  const malformed: MalformedEntry[] = [];
  const gone: string[] = [];
  for (const { id, fields } of entries) {
    if (fields === null) {
      gone.push(id);
      continue;
    }
    try {
      const { ms, seq } = parseStreamId(id);
      const entry = parseVoteFields(fields);
      const castAtMs = Date.parse(entry.castAt);
      if (castAtMs < 0 || castAtMs > LATEST_CAST_AT_MS) throw new Error(`vote stream entry: field "castAt" is out of range, got "${entry.castAt}"`);
      // Normalised so PostgreSQL parses exactly what Date.parse accepted (castVote already writes this form).
      const castAt = new Date(castAtMs).toISOString();
      votes.push({ id, ms, seq, entry: castAt === entry.castAt ? entry : { ...entry, castAt } });
    } catch (error) {
      malformed.push({ id, reason: error instanceof Error ? error.message : String(error), ...salvage(fields) });
    }
  }
  return { votes, malformed, gone };
}

type Salvaged = { receiptId?: string; pollId?: string; voterId?: string; traceparent?: string };
const SALVAGED = ['receiptId', 'pollId', 'voterId', 'traceparent'] as const;

/**
 * What can still be read from an entry the parser refused, in either layout. Only malformed
 * entries come here, so reading a `vote` JSON field a second time costs nothing that matters.
 */
function salvage(fields: readonly string[]): Salvaged {
  const found: Salvaged = {};
  if (isJsonVoteEntry(fields)) {
    let vote: Record<string, unknown>;
    try {
      vote = decodeVoteJson(fields[1]);
    } catch {
      return found;
    }
    for (const name of SALVAGED) keepIfUsable(found, name, vote[name]);
    return found;
  }
  for (let i = 0; i + 1 < fields.length; i += 2) keepIfUsable(found, fields[i], fields[i + 1]);
  return found;
}

function keepIfUsable(found: Salvaged, name: string | undefined, value: unknown): void {
  if (typeof value !== 'string') return;
  if ((name === 'receiptId' || name === 'pollId') && UUID_PATTERN.test(value)) found[name] = value.toLowerCase();
  // Only text PostgreSQL can store: the salvaged voterId goes into the audit event.
  else if (name === 'voterId' && value.length > 0 && value.length <= 128 && unstorableTextProblem(value) === undefined) found.voterId = value;
  // Only a batch span link is made from it, and linkFromTraceparent checks it.
  else if (name === 'traceparent' && value.length > 0 && value.length <= 55) found.traceparent = value;
}
