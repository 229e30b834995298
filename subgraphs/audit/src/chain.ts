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

/** An array or object being written by canonicalJson: `keys` (sorted) is null for an array. */
interface Open {
  readonly value: JsonValue[] | JsonObject;
  readonly keys: readonly string[] | null;
  index: number;
}

/**
 * JSON with sorted object keys: the same value always gives the same text. Built by appending to
 * one string (no per-level arrays to join): it runs for every appended and every verified event.
 * Iterative, with the open arrays and objects on an explicit stack: it also reads back rows that
 * never went through the ingest depth check, so it must not depend on it to stay within the call
 * stack (a recursive walk overflowed it on 20 000 levels and failed every batch sharing the event).
 */
export function canonicalJson(root: JsonValue): string {
  let text = '';
  const open: Open[] = [];
  let next: JsonValue = root;
  for (;;) {
    if (next === null || typeof next !== 'object') text += JSON.stringify(next);
    else if (Array.isArray(next)) {
      text += '[';
      open.push({ value: next, keys: null, index: 0 });
    } else {
      text += '{';
      // Sorted explicitly: Object.keys puts integer-like keys ("9", "10") first in numeric order.
      open.push({ value: next, keys: Object.keys(next).sort(), index: 0 });
    }
    // Close what is complete, then move to the next member of the innermost open value.
    for (;;) {
      const top = open.at(-1);
      if (top === undefined) return text;
      const { value, keys } = top;
      if (keys === null && Array.isArray(value) && top.index < value.length) {
        if (top.index > 0) text += ',';
        next = value[top.index] ?? null;
        top.index += 1;
        break;
      }
      if (keys !== null && !Array.isArray(value) && top.index < keys.length) {
        const key = keys[top.index] ?? '';
        text += `${top.index > 0 ? ',' : ''}${JSON.stringify(key)}:`;
        next = value[key] ?? null;
        top.index += 1;
        break;
      }
      text += keys === null ? ']' : '}';
      open.pop();
    }
  }
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
