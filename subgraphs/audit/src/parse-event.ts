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
/** Largest accepted data_json, in UTF-16 code units. @default 65536 */
export const MAX_DATA_JSON_LENGTH = 65_536;

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

export function parseAuditEventInput(input: AuditEventInput__Output): ChainedContent {
  const rawId = input.event_id ?? '';
  const fail = (field: string, problem: string): never => {
    throw new InvalidAuditEvent(field, problem, UUID_PATTERN.test(rawId) ? rawId.toLowerCase() : '');
  };
  const text = (field: keyof AuditEventInput__Output, maxLength: number, required: boolean): string | null => {
    const value = input[field] ?? '';
    if (value === '') return required ? fail(field, 'must be a non-empty string') : null;
    if (value.length > maxLength) fail(field, `must be at most ${maxLength} characters`);
    if (!isStorableString(value)) fail(field, 'contains a NUL character or malformed UTF-16');
    return value;
  };

  if (!UUID_PATTERN.test(rawId)) fail('event_id', `must be a UUID, got "${rawId.slice(0, 60)}"`);
  const eventId = rawId.toLowerCase();

  const rawAt = input.at ?? '';
  const millis = ISO_TIME.test(rawAt) ? Date.parse(rawAt) : Number.NaN;
  if (Number.isNaN(millis)) fail('at', `must be an ISO-8601 time with a zone, got "${rawAt.slice(0, 60)}"`);
  const at = new Date(millis).toISOString();
  if (!/^\d{4}-/.test(at)) fail('at', `must be between years 0000 and 9999, got "${rawAt}"`);

  const action = input.action ?? '';
  if (!AUDIT_ACTIONS.some((known) => known === action)) fail('action', `must be one of ${AUDIT_ACTIONS.join(', ')}, got "${action.slice(0, 60)}"`);

  const pollId = text('poll_id', 36, false);
  if (pollId !== null && !UUID_PATTERN.test(pollId)) fail('poll_id', `must be a UUID or empty, got "${pollId}"`);

  return {
    eventId,
    at,
    actor: text('actor', 256, true) ?? '',
    action,
    subjectType: text('subject_type', 64, true) ?? '',
    subjectId: text('subject_id', 256, true) ?? '',
    pollId: pollId === null ? null : pollId.toLowerCase(),
    traceId: text('trace_id', 128, false),
    data: parseData(input.data_json ?? '', fail),
  };
}

function parseData(json: string, fail: (field: string, problem: string) => never): JsonObject {
  if (json === '') return {};
  if (json.length > MAX_DATA_JSON_LENGTH) fail('data_json', `must be at most ${MAX_DATA_JSON_LENGTH} characters`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return fail('data_json', 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('data_json', 'must be a JSON object');
  if (!storableJson(value)) fail('data_json', 'contains a NUL character or malformed UTF-16 (PostgreSQL jsonb refuses both)');
  return value as JsonObject;
}

function isStorableString(value: string): boolean {
  return value.isWellFormed() && !value.includes('\u0000');
}

function storableJson(value: unknown): boolean {
  if (typeof value === 'string') return isStorableString(value);
  if (Array.isArray(value)) return value.every(storableJson);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).every(([key, item]) => isStorableString(key) && storableJson(item));
  }
  return true;
}
