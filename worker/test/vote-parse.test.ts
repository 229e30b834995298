import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeVoteEntry, parseStreamId, parseVoteEntry, type VoteEntry } from '@votemesh/common/contracts/vote-entry';
import { parseVoteFields } from '../src/vote-parse.ts';

const good: VoteEntry = {
  receiptId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  pollId: '2f1b7a3e-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
  optionId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  voterId: 'voter-42',
  castAt: '2026-03-01T12:00:00.000Z',
};
const fields = (overrides: Partial<Record<keyof VoteEntry, string>> = {}): string[] => encodeVoteEntry({ ...good, ...overrides });
const without = (name: string): string[] => {
  const list = fields();
  const index = list.indexOf(name);
  return [...list.slice(0, index), ...list.slice(index + 2)];
};

/** Each case: the stream entry's flat fields; both parsers must return the same entry or throw the same message. */
const cases: [string, string[]][] = [
  ['a complete entry', fields()],
  ['an entry with a traceparent', fields({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })],
  ['an empty traceparent (absent)', [...fields(), 'traceparent', '']],
  ['upper-case uuids (lower-cased)', fields({ receiptId: good.receiptId.toUpperCase(), pollId: good.pollId.toUpperCase() })],
  ['a castAt with an offset', fields({ castAt: '2026-03-01T13:00:00+01:00' })],
  ['unknown extra fields', [...fields(), 'extra', 'ignored', 'constructor', 'x']],
  ['a repeated field (last wins)', [...fields(), 'voterId', 'voter-43']],
  ['a voterId of 128 characters', fields({ voterId: 'v'.repeat(128) })],
  ['a voterId with a surrogate pair (well-formed)', fields({ voterId: 'voter-\u{1F5F3}' })],
  ['an odd number of items', [...fields(), 'dangling']],
  ['no fields at all', []],
  ['a missing receiptId', without('receiptId')],
  ['a missing pollId', without('pollId')],
  ['a missing optionId', without('optionId')],
  ['a missing voterId', without('voterId')],
  ['a missing castAt', without('castAt')],
  ['an empty optionId', fields({ optionId: '' })],
  ['a receiptId that is not a uuid', fields({ receiptId: 'not-a-uuid' })],
  ['a pollId longer than a uuid', fields({ pollId: `${good.pollId}0` })],
  ['an optionId with a bad character', fields({ optionId: good.optionId.replace('9', 'g') })],
  ['a voterId of 129 characters', fields({ voterId: 'v'.repeat(129) })],
  ['a castAt that is not a time', fields({ castAt: 'yesterday' })],
  ['a castAt longer than 40 characters', fields({ castAt: `${good.castAt}${' '.repeat(40)}` })],
  ['a malformed traceparent', fields({ traceparent: '00-xyz' })],
  ['a traceparent longer than 55 characters', fields({ traceparent: `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01${'0'.repeat(10)}` })],
  ['a voterId with a NUL character', fields({ voterId: 'voter\u000042' })],
  ['a voterId that is only a NUL character', fields({ voterId: '\u0000' })],
  ['a voterId with a lone high surrogate', fields({ voterId: 'voter-\uD83D' })],
  ['a voterId with a lone low surrogate', fields({ voterId: '\uDDF3-voter' })],
  ['a receiptId with a NUL character (the text check comes before the uuid check)', fields({ receiptId: `${good.receiptId.slice(0, 35)}\u0000` })],
  ['a castAt with a NUL character', fields({ castAt: `${good.castAt}\u0000` })],
  ['a traceparent with a lone surrogate', fields({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\uD800' })],
  ['two wrong fields (the first checked is named)', fields({ pollId: 'bad', voterId: '' })],
  ['a bad traceparent and a bad receiptId (traceparent is checked first)', fields({ receiptId: 'bad', traceparent: 'bad' })],
];

function outcome(parse: (fields: readonly string[]) => VoteEntry, input: readonly string[]): { entry: VoteEntry } | { error: string; field: unknown } {
  try {
    return { entry: parse(input) };
  } catch (error) {
    assert.ok(error instanceof Error);
    return { error: error.message, field: (error as { extensions?: { field?: unknown } }).extensions?.field };
  }
}

describe('parseVoteFields agrees with parseVoteEntry', () => {
  for (const [name, input] of cases) {
    it(name, () => {
      const expected = outcome(parseVoteEntry, input);
      assert.deepEqual(outcome(parseVoteFields, input), expected);
    });
  }

  it('accepts the good cases and names the wrong field in the bad ones', () => {
    const results = cases.map(([name, input]) => [name, outcome(parseVoteFields, input)] as const);
    assert.equal(results.filter(([, result]) => 'entry' in result).length, 9);
    for (const [name, result] of results) {
      if ('error' in result) assert.match(result.error, /^vote stream entry: field "[^"]+" /, name);
    }
  });

  it('refuses text PostgreSQL cannot store, naming the field and the problem', () => {
    const expectations: [string, string[], string, RegExp][] = [
      ['NUL in voterId', fields({ voterId: 'a\u0000b' }), 'voterId', /must not contain NUL \(U\+0000\)/],
      ['lone surrogate in voterId', fields({ voterId: 'a\uD800b' }), 'voterId', /well-formed Unicode/],
      ['NUL in receiptId', fields({ receiptId: `${good.receiptId.slice(0, 35)}\u0000` }), 'receiptId', /must not contain NUL/],
    ];
    for (const [name, input, field, problem] of expectations) {
      for (const parse of [parseVoteFields, parseVoteEntry]) {
        const result = outcome(parse, input);
        assert.ok('error' in result, `${name}: ${parse.name} refuses it`);
        assert.equal(result.field, field, name);
        assert.match(result.error, problem, name);
      }
    }
  });

  it('parseStreamId refuses ids whose parts do not fit a PostgreSQL bigint', () => {
    assert.deepEqual(parseStreamId('9223372036854775807-9223372036854775807'), { ms: 2n ** 63n - 1n, seq: 2n ** 63n - 1n });
    for (const id of ['9223372036854775808-0', '1-9223372036854775808', '18446744073709551615-18446744073709551615']) {
      assert.throws(() => parseStreamId(id), /field "id" must have both parts at most 9223372036854775807/, id);
    }
  });
});
