// The hash chain: the one place that defines what an audit event's hash covers. The prose version
// of this definition is docs/contracts/audit.md; both must change together (old rows would no
// longer verify, so in practice they never change).
//
// canonical(event) = JSON.stringify([
//   eventId,        // lowercase UUID
//   at,             // UTC ISO-8601 with milliseconds, exactly Date#toISOString(): 2024-05-01T12:00:00.000Z
//   actor, action, subjectType, subjectId,
//   pollId,         // lowercase UUID, or null when absent
//   traceId,        // string, or null when absent
//   data,           // the JSON object with every object's keys sorted by UTF-16 code units, recursively
// ])
// i.e. a JSON array in that fixed order, no whitespace, JSON.stringify string escaping (UTF-8 when
// hashed). hash = lowercase hex sha256(prevHash + canonical(event)), where prevHash is the hash of
// the event with the next lower seq, or GENESIS_HASH (64 zeros) for the first event. `seq` itself
// is not hashed: the prev_hash link already fixes every event's position in the chain.
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** The hashed content of one event, in the normalised form that is stored and read back. */
export interface ChainedContent {
  readonly eventId: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subjectType: string;
  readonly subjectId: string;
  readonly pollId: string | null;
  readonly traceId: string | null;
  readonly data: JsonObject;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** JSON with sorted object keys: the same value always gives the same text. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] ?? null)}`).join(',')}}`;
}

export function canonicalEvent(event: ChainedContent): string {
  const head = [event.eventId, event.at, event.actor, event.action, event.subjectType, event.subjectId, event.pollId, event.traceId];
  return `[${head.map((field) => JSON.stringify(field)).join(',')},${canonicalJson(event.data)}]`;
}

export function chainHash(prevHash: string, event: ChainedContent): string {
  return createHash('sha256').update(prevHash).update(canonicalEvent(event)).digest('hex');
}
