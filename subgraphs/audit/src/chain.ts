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
import { hash } from 'node:crypto';

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

/**
 * JSON with sorted object keys: the same value always gives the same text. Built by appending to
 * one string (no per-level arrays to join): it runs for every appended and every verified event.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index += 1) {
      if (index > 0) text += ',';
      text += canonicalJson(value[index] ?? null);
    }
    return `${text}]`;
  }
  // Sorted explicitly: Object.keys puts integer-like keys ("9", "10") first in numeric order.
  const keys = Object.keys(value).sort();
  let text = '{';
  for (let index = 0; index < keys.length; index += 1) {
    const key = keys[index] ?? '';
    if (index > 0) text += ',';
    text += `${JSON.stringify(key)}:${canonicalJson(value[key] ?? null)}`;
  }
  return `${text}}`;
}

export function canonicalEvent(event: ChainedContent): string {
  // One JSON.stringify for the eight scalar fields; its closing bracket makes way for `data`.
  const head = JSON.stringify([event.eventId, event.at, event.actor, event.action, event.subjectType, event.subjectId, event.pollId, event.traceId]);
  return `${head.slice(0, -1)},${canonicalJson(event.data)}]`;
}

export function chainHash(prevHash: string, event: ChainedContent): string {
  // One-shot hash(): no Hash object per event. prevHash is ASCII hex, so hashing the concatenation
  // is hashing UTF-8(prevHash) followed by UTF-8(canonical(event)), as the contract says.
  return hash('sha256', prevHash + canonicalEvent(event), 'hex');
}
