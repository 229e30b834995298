// Small field readers for parsing wire messages: each failure names the message and the field.
import { VotemeshError } from '../errors.ts';

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function invalid(message: string, field: string, problem: string): VotemeshError {
  return new VotemeshError('INVALID_MESSAGE', `${message}: field "${field}" ${problem}`, { details: { field } });
}

export function asRecord(message: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(message, '(root)', 'must be an object');
  }
  return value as Record<string, unknown>;
}

export function parseJson(message: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(message, '(root)', 'is not valid JSON');
  }
}

/**
 * Why PostgreSQL `text` (and a UTF-8 encoder) cannot hold `value`, or undefined when it can: NUL
 * (U+0000) is refused by PostgreSQL, and a lone UTF-16 surrogate has no UTF-8 encoding (JSON
 * escapes it and jsonb refuses it; Buffer silently swaps it for U+FFFD). Checking at the edge keeps
 * such a value from reaching SQL, where it would fail a whole batch.
 */
export function unstorableTextProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain NUL (U+0000) characters';
  if (!value.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

export function stringField(message: string, record: Record<string, unknown>, field: string, maxLength = 512): string {
  const value = record[field];
  if (typeof value !== 'string' || value.length === 0) throw invalid(message, field, 'must be a non-empty string');
  if (value.length > maxLength) throw invalid(message, field, `must be at most ${maxLength} characters`);
  const problem = unstorableTextProblem(value);
  if (problem !== undefined) throw invalid(message, field, problem);
  return value;
}

export function optionalStringField(message: string, record: Record<string, unknown>, field: string, maxLength = 512): string | undefined {
  return record[field] === undefined || record[field] === null || record[field] === '' ? undefined : stringField(message, record, field, maxLength);
}

export function uuidField(message: string, record: Record<string, unknown>, field: string): string {
  const value = stringField(message, record, field, 36);
  if (!UUID_PATTERN.test(value)) throw invalid(message, field, `must be a UUID, got "${value}"`);
  return value.toLowerCase();
}

export function numberField(message: string, record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(message, field, 'must be a finite number');
  return value;
}

export function isoTimeField(message: string, record: Record<string, unknown>, field: string): string {
  const value = stringField(message, record, field, 40);
  if (Number.isNaN(Date.parse(value))) throw invalid(message, field, `must be an ISO-8601 time, got "${value}"`);
  return value;
}

export function oneOfField<const T extends string>(message: string, record: Record<string, unknown>, field: string, choices: readonly T[]): T {
  const value = record[field];
  const match = choices.find((choice) => choice === value);
  if (match === undefined) throw invalid(message, field, `must be one of ${choices.join(', ')}`);
  return match;
}
