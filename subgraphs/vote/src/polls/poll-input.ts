// Validates createPoll's input. Each failure is BAD_USER_INPUT whose message and
// `extensions.field` name the offending field, e.g. `input.options[2]`.
import { VotemeshError } from '@votemesh/common/errors';

export interface CreatePollInput {
  readonly question: string;
  readonly options: readonly string[];
  readonly opensAt?: Date | null;
  readonly closesAt?: Date | null;
}

export interface ValidPollInput {
  readonly question: string;
  readonly options: readonly string[];
  readonly opensAt: Date | null;
  readonly closesAt: Date | null;
}

export const POLL_LIMITS = Object.freeze({
  questionMaxLength: 300,
  minOptions: 2,
  maxOptions: 20,
  labelMaxLength: 100,
});

function reject(field: string, problem: string): never {
  throw new VotemeshError('BAD_USER_INPUT', `${field} ${problem}`, { details: { field } });
}

/** Trims text, checks every rule, and returns the input as it will be stored. */
export function validatePollInput(input: CreatePollInput, now: Date): ValidPollInput {
  const question = input.question.trim();
  if (question.length === 0) reject('input.question', 'must not be empty');
  if (question.length > POLL_LIMITS.questionMaxLength) {
    reject('input.question', `must be at most ${POLL_LIMITS.questionMaxLength} characters, got ${question.length}`);
  }

  if (input.options.length < POLL_LIMITS.minOptions || input.options.length > POLL_LIMITS.maxOptions) {
    reject('input.options', `must list ${POLL_LIMITS.minOptions} to ${POLL_LIMITS.maxOptions} options, got ${input.options.length}`);
  }
  const seen = new Map<string, number>();
  const options = input.options.map((raw, index) => {
    const label = raw.trim();
    const field = `input.options[${index}]`;
    if (label.length === 0) reject(field, 'must not be empty');
    if (label.length > POLL_LIMITS.labelMaxLength) reject(field, `must be at most ${POLL_LIMITS.labelMaxLength} characters, got ${label.length}`);
    // Labels differing only in case or surrounding spaces would look identical to voters.
    const key = label.toLocaleLowerCase('en');
    const first = seen.get(key);
    if (first !== undefined) reject(field, `repeats input.options[${first}] ("${label}"); labels must be unique`);
    seen.set(key, index);
    return label;
  });

  const opensAt = input.opensAt ?? null;
  const closesAt = input.closesAt ?? null;
  if (opensAt && opensAt.getTime() <= now.getTime()) reject('input.opensAt', `must be in the future, got ${opensAt.toISOString()}`);
  if (closesAt && closesAt.getTime() <= now.getTime()) reject('input.closesAt', `must be in the future, got ${closesAt.toISOString()}`);
  if (opensAt && closesAt && opensAt.getTime() >= closesAt.getTime()) {
    reject('input.closesAt', `must be after input.opensAt (${opensAt.toISOString()}), got ${closesAt.toISOString()}`);
  }
  return { question, options, opensAt, closesAt };
}
