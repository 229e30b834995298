// Edge validation of AuditIngest messages. Everything the store writes passes through here, so a
// message that PostgreSQL would refuse (NUL characters, lone surrogates, a non-UUID poll id, a time
// outside timestamptz) is rejected before it can fail a batch that other streams' events share.
import { AUDIT_ACTIONS } from '@votemesh/common/contracts/audit';
import { UUID_PATTERN } from '@votemesh/common/contracts/parse';
import { VotemeshError } from '@votemesh/common/errors';
import type { AuditEventBatch__Output } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventBatch';
import type { AuditEventInput__Output } from '@votemesh/common/grpc/generated/votemesh/audit/v1/AuditEventInput';
import type { ChainedContent, JsonObject } from './chain.ts';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const FOUR_DIGIT_YEAR = /^\d{4}-/;
/**
 * 0001-01-01T00:00:00.000Z, the earliest accepted time. PostgreSQL has no year 0 (1 BC follows
 * 1 AD), so a year-0000 time, even one that only gets there through its zone offset, would fail
 * the whole append batch that other streams' events share.
 */
const MIN_AT_MILLIS = Date.parse('0001-01-01T00:00:00.000Z'); // not Date.UTC: it reads years 0–99 as 1900–1999
/** Largest accepted data_json, in UTF-16 code units. @default 65536 */
export const MAX_DATA_JSON_LENGTH = 65_536;
/**
 * Deepest accepted data_json nesting, the object itself being level 1. Checked on the text before
 * JSON.parse: a 65 536-character text can nest 32 768 levels, enough to overflow the stack of any
 * recursive walk (and PostgreSQL's own jsonb parser limits depth by stack size). @default 64
 */
export const MAX_DATA_JSON_DEPTH = 64;

/** Where a refused event sat in a RecordBatch call: the call's nth message (from 0), and its index there. */
export interface BatchPosition {
  readonly messageIndex: number;
  readonly batchIndex: number;
}

export class InvalidAuditEvent extends VotemeshError {
  readonly field: string;
  readonly problem: string;
  readonly eventId: string;
  readonly position: BatchPosition | undefined;
  constructor(field: string, problem: string, eventId: string, position?: BatchPosition) {
    const message = position ? `AuditEventBatch message ${position.messageIndex} events[${position.batchIndex}]` : 'AuditEventInput';
    const which = eventId === '' ? '' : ` (event_id ${eventId})`;
    super('INVALID_MESSAGE', `${message}${which}: field "${field}" ${problem}`, { details: { field, ...position } });
    this.field = field;
    this.problem = problem;
    this.eventId = eventId;
    this.position = position;
  }
}

/**
 * Every event of one RecordBatch message, or the first invalid one as an InvalidAuditEvent naming
 * its position: the message is refused as a whole, so none of it reaches the log.
 */
export function parseAuditEventBatch(batch: AuditEventBatch__Output, messageIndex: number): ChainedContent[] {
  const events: ChainedContent[] = [];
  for (const [batchIndex, input] of (batch.events ?? []).entries()) {
    try {
      events.push(parseAuditEventInput(input));
    } catch (error) {
      if (!(error instanceof InvalidAuditEvent)) throw error;
      throw new InvalidAuditEvent(error.field, error.problem, error.eventId, { messageIndex, batchIndex });
    }
  }
  return events;
}

const KNOWN_ACTIONS: ReadonlySet<string> = new Set(AUDIT_ACTIONS);

/**
 * The normalised event, or an InvalidAuditEvent naming the first bad field (event_id, at, action,
 * poll_id, actor, subject_type, subject_id, trace_id, data_json, in that order). Runs once per
 * event on the ingest path, so it builds no closures per call.
 */
export function parseAuditEventInput(input: AuditEventInput__Output): ChainedContent {
  const rawId = input.event_id ?? '';
  if (!UUID_PATTERN.test(rawId)) throw new InvalidAuditEvent('event_id', `must be a UUID, got "${rawId.slice(0, 60)}"`, '');
  const eventId = rawId.toLowerCase();

  const rawAt = input.at ?? '';
  const millis = ISO_TIME.test(rawAt) ? Date.parse(rawAt) : Number.NaN;
  if (Number.isNaN(millis)) throw new InvalidAuditEvent('at', `must be an ISO-8601 time with a zone, got "${rawAt.slice(0, 60)}"`, eventId);
  const at = new Date(millis).toISOString();
  if (millis < MIN_AT_MILLIS || !FOUR_DIGIT_YEAR.test(at)) {
    throw new InvalidAuditEvent('at', `must be between years 0001 and 9999 (in UTC), got "${rawAt}"`, eventId);
  }

  const action = input.action ?? '';
  if (!KNOWN_ACTIONS.has(action)) throw new InvalidAuditEvent('action', `must be one of ${AUDIT_ACTIONS.join(', ')}, got "${action.slice(0, 60)}"`, eventId);

  const pollId = readText(input, 'poll_id', 36, false, eventId);
  if (pollId !== null && !UUID_PATTERN.test(pollId)) throw new InvalidAuditEvent('poll_id', `must be a UUID or empty, got "${pollId}"`, eventId);

  return {
    eventId,
    at,
    actor: readText(input, 'actor', 256, true, eventId) ?? '',
    action,
    subjectType: readText(input, 'subject_type', 64, true, eventId) ?? '',
    subjectId: readText(input, 'subject_id', 256, true, eventId) ?? '',
    pollId: pollId === null ? null : pollId.toLowerCase(),
    traceId: readText(input, 'trace_id', 128, false, eventId),
    data: parseData(input.data_json ?? '', eventId),
  };
}

/** A string field: null when empty and optional. */
function readText(input: AuditEventInput__Output, field: keyof AuditEventInput__Output, maxLength: number, required: boolean, eventId: string): string | null {
  const value = input[field] ?? '';
  if (value === '') {
    if (required) throw new InvalidAuditEvent(field, 'must be a non-empty string', eventId);
    return null;
  }
  if (value.length > maxLength) throw new InvalidAuditEvent(field, `must be at most ${maxLength} characters`, eventId);
  if (!isStorableString(value)) throw new InvalidAuditEvent(field, 'contains a NUL character or malformed UTF-16', eventId);
  return value;
}

function parseData(json: string, eventId: string): JsonObject {
  if (json === '') return {};
  if (json.length > MAX_DATA_JSON_LENGTH) throw new InvalidAuditEvent('data_json', `must be at most ${MAX_DATA_JSON_LENGTH} characters`, eventId);
  if (exceedsDepth(json, MAX_DATA_JSON_DEPTH)) throw new InvalidAuditEvent('data_json', `is nested deeper than ${MAX_DATA_JSON_DEPTH} levels`, eventId);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidAuditEvent('data_json', 'is not valid JSON', eventId);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidAuditEvent('data_json', 'must be a JSON object', eventId);
  if (!storableJsonText(json) && !storableJson(value)) {
    throw new InvalidAuditEvent('data_json', 'contains a NUL character or malformed UTF-16 (PostgreSQL jsonb refuses both)', eventId);
  }
  return value as JsonObject;
}

function isStorableString(value: string): boolean {
  return value.isWellFormed() && !value.includes('\u0000');
}

/**
 * True when no string inside the parsed text can hold a NUL or a lone surrogate: JSON forbids raw
 * control characters in strings, so both could only come from a \u escape or from malformed text.
 * Two native scans instead of walking every key and value; the walk remains for the rest.
 */
function storableJsonText(json: string): boolean {
  return json.isWellFormed() && !json.includes('\\u');
}

/**
 * True when `[` and `{` outside strings nest deeper than `limit`. One pass over the raw text, no
 * recursion, so it is safe on any input; malformed text is left for JSON.parse to refuse.
 */
function exceedsDepth(json: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < json.length; index += 1) {
    const code = json.charCodeAt(index);
    if (inString) {
      if (code === 0x5c)
        index += 1; // backslash: the next character is escaped, whatever it is
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === 0x5d || code === 0x7d) depth -= 1;
  }
  return false;
}

/**
 * Every key and string in `root` is storable. Iterative (an explicit stack), so it does not depend
 * on the depth check above to stay within the call stack.
 */
function storableJson(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (!isStorableString(value)) return false;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (!isStorableString(key)) return false;
        pending.push(item);
      }
    }
  }
  return true;
}
