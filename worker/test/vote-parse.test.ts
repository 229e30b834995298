import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeVoteEntry, parseStreamId, parseVoteEntry, VOTE_FIELD, type VoteEntry } from '@votemesh/common/contracts/vote-entry';
import { splitEntries } from '../src/outcomes.ts';
import { parseVoteFields } from '../src/vote-parse.ts';
import { encodeLegacyVoteEntry } from './support/legacy-entry.ts';

const good: VoteEntry = {
  receiptId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  pollId: '2f1b7a3e-4c5d-4e6f-8a9b-0c1d2e3f4a5b',
  optionId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  voterId: 'voter-42',
  castAt: '2026-03-01T12:00:00.000Z',
};
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
type Overrides = Partial<Record<keyof VoteEntry, string>>;

/** The legacy layout: one stream field per value. */
const legacy = (overrides: Overrides = {}): string[] => encodeLegacyVoteEntry({ ...good, ...overrides });
const legacyWithout = (name: string): string[] => {
  const list = legacy();
  const index = list.indexOf(name);
  return [...list.slice(0, index), ...list.slice(index + 2)];
};
/** The current layout, as castVote writes it. */
const json = (overrides: Overrides = {}): string[] => encodeVoteEntry({ ...good, ...overrides });
/** A `vote` field holding `value` as JSON: shapes encodeVoteEntry never writes. */
const vote = (value: unknown): string[] => [VOTE_FIELD, JSON.stringify(value)];
const jsonWithout = (name: keyof VoteEntry): string[] => vote(Object.fromEntries(Object.entries(good).filter(([key]) => key !== name)));
/** The good vote's JSON with `tail` spliced in before the closing brace (keys JSON.stringify cannot repeat). */
const jsonWith = (tail: string): string[] => [VOTE_FIELD, JSON.stringify(good).replace(/}$/, `,${tail}}`)];

/**
 * Each case: the stream entry's flat fields, and `ok` or the field the error must name. Both
 * parsers must return the same entry or throw the same message.
 */
const cases: [string, string[], 'ok' | string][] = [
  // The legacy layout, field per value (older vote subgraphs, entries queued before the upgrade).
  ['legacy: a complete entry', legacy(), 'ok'],
  ['legacy: an entry with a traceparent', legacy({ traceparent: TRACEPARENT }), 'ok'],
  ['legacy: an empty traceparent (absent)', [...legacy(), 'traceparent', ''], 'ok'],
  ['legacy: upper-case uuids (lower-cased)', legacy({ receiptId: good.receiptId.toUpperCase(), pollId: good.pollId.toUpperCase() }), 'ok'],
  ['legacy: a castAt with an offset', legacy({ castAt: '2026-03-01T13:00:00+01:00' }), 'ok'],
  ['legacy: unknown extra fields', [...legacy(), 'extra', 'ignored', 'constructor', 'x'], 'ok'],
  ['legacy: a repeated field (last wins)', [...legacy(), 'voterId', 'voter-43'], 'ok'],
  ['legacy: a voterId of 128 characters', legacy({ voterId: 'v'.repeat(128) }), 'ok'],
  ['legacy: a voterId with a surrogate pair (well-formed)', legacy({ voterId: 'voter-\u{1F5F3}' }), 'ok'],
  ['legacy: an odd number of items', [...legacy(), 'dangling'], '(root)'],
  ['legacy: no fields at all', [], 'receiptId'],
  ['legacy: a missing receiptId', legacyWithout('receiptId'), 'receiptId'],
  ['legacy: a missing pollId', legacyWithout('pollId'), 'pollId'],
  ['legacy: a missing optionId', legacyWithout('optionId'), 'optionId'],
  ['legacy: a missing voterId', legacyWithout('voterId'), 'voterId'],
  ['legacy: a missing castAt', legacyWithout('castAt'), 'castAt'],
  ['legacy: an empty optionId', legacy({ optionId: '' }), 'optionId'],
  ['legacy: a receiptId that is not a uuid', legacy({ receiptId: 'not-a-uuid' }), 'receiptId'],
  ['legacy: a pollId longer than a uuid', legacy({ pollId: `${good.pollId}0` }), 'pollId'],
  ['legacy: an optionId with a bad character', legacy({ optionId: good.optionId.replace('9', 'g') }), 'optionId'],
  ['legacy: a voterId of 129 characters', legacy({ voterId: 'v'.repeat(129) }), 'voterId'],
  ['legacy: a castAt that is not a time', legacy({ castAt: 'yesterday' }), 'castAt'],
  ['legacy: a castAt longer than 40 characters', legacy({ castAt: `${good.castAt}${' '.repeat(40)}` }), 'castAt'],
  ['legacy: a malformed traceparent', legacy({ traceparent: '00-xyz' }), 'traceparent'],
  ['legacy: a traceparent longer than 55 characters', legacy({ traceparent: `${TRACEPARENT}${'0'.repeat(10)}` }), 'traceparent'],
  ['legacy: a voterId with a NUL character', legacy({ voterId: 'voter\u000042' }), 'voterId'],
  ['legacy: a voterId that is only a NUL character', legacy({ voterId: '\u0000' }), 'voterId'],
  ['legacy: a voterId with a lone high surrogate', legacy({ voterId: 'voter-\uD83D' }), 'voterId'],
  ['legacy: a voterId with a lone low surrogate', legacy({ voterId: '\uDDF3-voter' }), 'voterId'],
  [
    'legacy: a receiptId with a NUL character (the text check comes before the uuid check)',
    legacy({ receiptId: `${good.receiptId.slice(0, 35)}\u0000` }),
    'receiptId',
  ],
  ['legacy: a castAt with a NUL character', legacy({ castAt: `${good.castAt}\u0000` }), 'castAt'],
  ['legacy: a traceparent with a lone surrogate', legacy({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\uD800' }), 'traceparent'],
  ['legacy: two wrong fields (the first checked is named)', legacy({ pollId: 'bad', voterId: '' }), 'pollId'],
  ['legacy: a bad traceparent and a bad receiptId (traceparent is checked first)', legacy({ receiptId: 'bad', traceparent: 'bad' }), 'traceparent'],
  ['legacy: a lone `vote` field name (odd, so legacy)', [VOTE_FIELD], '(root)'],
  ['legacy: a `vote` field beside another field is not the JSON layout', [...json(), 'extra', 'x'], 'receiptId'],

  // The current layout: one field `vote`, the vote as a JSON object.
  ['json: a complete entry', json(), 'ok'],
  ['json: an entry with a traceparent', json({ traceparent: TRACEPARENT }), 'ok'],
  ['json: an empty traceparent (absent)', vote({ ...good, traceparent: '' }), 'ok'],
  ['json: a null traceparent (absent)', vote({ ...good, traceparent: null }), 'ok'],
  ['json: upper-case uuids (lower-cased)', json({ receiptId: good.receiptId.toUpperCase(), optionId: good.optionId.toUpperCase() }), 'ok'],
  ['json: a castAt with an offset', json({ castAt: '2026-03-01T13:00:00+01:00' }), 'ok'],
  [
    'json: keys in another order, whitespace around',
    [
      VOTE_FIELD,
      ` ${JSON.stringify({ castAt: good.castAt, voterId: good.voterId, optionId: good.optionId, pollId: good.pollId, receiptId: good.receiptId })}\n`,
    ],
    'ok',
  ],
  [
    'json: unknown extra keys (ignored)',
    jsonWith('"extra":"ignored","constructor":"x","nested":{"receiptId":"bad"},"__proto__":{"voterId":"x"},"list":[1,2]'),
    'ok',
  ],
  ['json: a repeated key (last wins)', jsonWith('"voterId":"voter-43"'), 'ok'],
  ['json: a voterId of 128 characters', json({ voterId: 'v'.repeat(128) }), 'ok'],
  ['json: a voterId with a surrogate pair (well-formed)', json({ voterId: 'voter-\u{1F5F3}' }), 'ok'],
  ['json: a voterId with an escaped surrogate pair', [VOTE_FIELD, JSON.stringify(good).replace('"voter-42"', '"voter-\\ud83d\\uddf3"')], 'ok'],
  ['json: not JSON', [VOTE_FIELD, `{"receiptId":"${good.receiptId}",`], 'vote'],
  ['json: an empty value', [VOTE_FIELD, ''], 'vote'],
  ['json: single-quoted keys (not JSON)', [VOTE_FIELD, "{'receiptId':'x'}"], 'vote'],
  ['json: an array instead of an object', vote([good]), 'vote'],
  ['json: null instead of an object', vote(null), 'vote'],
  ['json: a string instead of an object', vote(JSON.stringify(good)), 'vote'],
  ['json: a number instead of an object', [VOTE_FIELD, '42'], 'vote'],
  ['json: an empty object', vote({}), 'receiptId'],
  ['json: a missing receiptId', jsonWithout('receiptId'), 'receiptId'],
  ['json: a missing pollId', jsonWithout('pollId'), 'pollId'],
  ['json: a missing optionId', jsonWithout('optionId'), 'optionId'],
  ['json: a missing voterId', jsonWithout('voterId'), 'voterId'],
  ['json: a missing castAt', jsonWithout('castAt'), 'castAt'],
  ['json: an empty optionId', json({ optionId: '' }), 'optionId'],
  ['json: a null pollId', vote({ ...good, pollId: null }), 'pollId'],
  ['json: a numeric voterId', vote({ ...good, voterId: 42 }), 'voterId'],
  ['json: a castAt given as epoch milliseconds', vote({ ...good, castAt: Date.parse(good.castAt) }), 'castAt'],
  ['json: a receiptId given as an object', vote({ ...good, receiptId: { id: good.receiptId } }), 'receiptId'],
  ['json: a numeric traceparent', vote({ ...good, traceparent: 0 }), 'traceparent'],
  ['json: a receiptId that is not a uuid', json({ receiptId: 'not-a-uuid' }), 'receiptId'],
  ['json: a pollId longer than a uuid', json({ pollId: `${good.pollId}0` }), 'pollId'],
  ['json: an optionId with a bad character', json({ optionId: good.optionId.replace('9', 'g') }), 'optionId'],
  ['json: a voterId of 129 characters', json({ voterId: 'v'.repeat(129) }), 'voterId'],
  ['json: a castAt that is not a time', json({ castAt: 'yesterday' }), 'castAt'],
  ['json: a castAt longer than 40 characters', json({ castAt: `${good.castAt}${' '.repeat(40)}` }), 'castAt'],
  ['json: a malformed traceparent', json({ traceparent: '00-xyz' }), 'traceparent'],
  ['json: a traceparent longer than 55 characters', json({ traceparent: `${TRACEPARENT}${'0'.repeat(10)}` }), 'traceparent'],
  ['json: a voterId with a NUL character (escaped in JSON)', json({ voterId: 'voter\u000042' }), 'voterId'],
  ['json: a voterId with a lone high surrogate (escaped in JSON)', json({ voterId: 'voter-\uD83D' }), 'voterId'],
  ['json: a voterId with a lone low surrogate', json({ voterId: '\uDDF3-voter' }), 'voterId'],
  [
    'json: a receiptId with a NUL character (the text check comes before the uuid check)',
    json({ receiptId: `${good.receiptId.slice(0, 35)}\u0000` }),
    'receiptId',
  ],
  ['json: a castAt with a NUL character', json({ castAt: `${good.castAt}\u0000` }), 'castAt'],
  ['json: a traceparent with a lone surrogate', json({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\uD800' }), 'traceparent'],
  ['json: two wrong fields (the first checked is named)', json({ pollId: 'bad', voterId: '' }), 'pollId'],
  ['json: a bad traceparent and a bad receiptId (traceparent is checked first)', json({ receiptId: 'bad', traceparent: 'bad' }), 'traceparent'],
];

type Outcome = { entry: VoteEntry } | { error: string; field: unknown };

function outcome(parse: (fields: readonly string[]) => VoteEntry, input: readonly string[]): Outcome {
  try {
    return { entry: parse(input) };
  } catch (error) {
    assert.ok(error instanceof Error);
    return { error: error.message, field: (error as { extensions?: { field?: unknown } }).extensions?.field };
  }
}

describe('parseVoteFields agrees with parseVoteEntry', () => {
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const shared = outcome(parseVoteEntry, input);
      assert.deepEqual(outcome(parseVoteFields, input), shared);
      if (expected === 'ok') assert.ok('entry' in shared, `accepted, got ${JSON.stringify(shared)}`);
      else {
        assert.ok('error' in shared, 'refused');
        assert.equal(shared.field, expected);
        assert.ok(shared.error.startsWith(`vote stream entry: field "${expected}" `), shared.error);
      }
    });
  }

  it('reads the same vote from both layouts', () => {
    for (const entry of [good, { ...good, traceparent: TRACEPARENT }]) {
      for (const parse of [parseVoteFields, parseVoteEntry]) {
        assert.deepEqual(parse(encodeVoteEntry(entry)), entry);
        assert.deepEqual(parse(encodeLegacyVoteEntry(entry)), entry);
      }
    }
  });

  it('says what is wrong with the `vote` field itself', () => {
    const expectations: [string[], string][] = [
      [[VOTE_FIELD, '{"receiptId":'], 'vote stream entry: field "vote" is not valid JSON'],
      [vote([good]), 'vote stream entry: field "vote" must be a JSON object'],
      [vote(null), 'vote stream entry: field "vote" must be a JSON object'],
    ];
    for (const [input, message] of expectations) {
      for (const parse of [parseVoteFields, parseVoteEntry]) assert.deepEqual(outcome(parse, input), { error: message, field: 'vote' });
    }
  });

  it('refuses text PostgreSQL cannot store, naming the field and the problem', () => {
    const expectations: [string, string[], string, RegExp][] = [
      ['NUL in voterId', legacy({ voterId: 'a\u0000b' }), 'voterId', /must not contain NUL \(U\+0000\)/],
      ['lone surrogate in voterId', legacy({ voterId: 'a\uD800b' }), 'voterId', /well-formed Unicode/],
      ['NUL in receiptId', legacy({ receiptId: `${good.receiptId.slice(0, 35)}\u0000` }), 'receiptId', /must not contain NUL/],
      ['json: NUL in voterId', json({ voterId: 'a\u0000b' }), 'voterId', /must not contain NUL \(U\+0000\)/],
      ['json: lone surrogate in voterId', json({ voterId: 'a\uD800b' }), 'voterId', /well-formed Unicode/],
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

describe('encodeVoteEntry', () => {
  it('writes one field, `vote`, holding exactly the contract keys as a JSON object', () => {
    const extra = { ...good, traceparent: TRACEPARENT, weight: 3 };
    const fields = encodeVoteEntry(extra);
    assert.equal(fields.length, 2);
    assert.equal(fields[0], 'vote');
    assert.deepEqual(JSON.parse(fields[1]), { ...good, traceparent: TRACEPARENT });
    assert.deepEqual(Object.keys(JSON.parse(encodeVoteEntry(good)[1])), ['receiptId', 'pollId', 'optionId', 'voterId', 'castAt']);
  });
});

describe('splitEntries salvages what a malformed entry still tells', () => {
  const PARTS = { receiptId: good.receiptId, pollId: good.pollId, voterId: good.voterId, traceparent: TRACEPARENT };
  const malformed = (fields: string[]) => {
    const split = splitEntries([{ id: '1-0', fields }]);
    assert.equal(split.votes.length, 0);
    assert.equal(split.malformed.length, 1);
    const { id, reason, ...salvaged } = split.malformed[0]!;
    assert.equal(id, '1-0');
    return { reason, salvaged };
  };

  it('reads receiptId, pollId, voterId and traceparent from a refused entry in either layout', () => {
    const upper = { receiptId: good.receiptId.toUpperCase(), pollId: good.pollId.toUpperCase(), traceparent: TRACEPARENT };
    for (const fields of [legacy({ ...upper, optionId: 'bad' }), json({ ...upper, optionId: 'bad' })]) {
      const { reason, salvaged } = malformed(fields);
      assert.match(reason, /field "optionId" must be a UUID/);
      assert.deepEqual(salvaged, PARTS);
    }
    const { salvaged } = malformed(vote({ receiptId: good.receiptId, pollId: 7, voterId: 'a\u0000b', castAt: good.castAt }));
    assert.deepEqual(salvaged, { receiptId: good.receiptId }, 'only values that pass their own checks');
  });

  it('salvages nothing from a `vote` field that is not a JSON object', () => {
    for (const fields of [[VOTE_FIELD, '{"receiptId":"'], vote([good]), vote(null)]) {
      const { reason, salvaged } = malformed(fields);
      assert.match(reason, /field "vote" (is not valid JSON|must be a JSON object)/);
      assert.deepEqual(salvaged, {});
    }
  });
});
