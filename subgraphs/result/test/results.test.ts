import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apportionTenths, buildPollResults, computeShares, leaderIndexes, type TallySnapshot } from '../src/results.ts';
import { createRandom, type Random } from './random.ts';

const SEED = Number(process.env['RESULT_TEST_SEED'] ?? Date.now() % 1_000_000);

function tally(overrides: Partial<TallySnapshot> = {}): TallySnapshot {
  return {
    pollId: 'p',
    version: 3,
    options: [],
    votesPerSecond: 1.5,
    updatedAt: '2030-01-01T00:00:05.000Z',
    committedAtMs: Date.parse('2030-01-01T00:00:05.000Z'),
    ...overrides,
  };
}

function randomVotes(random: Random): number[] {
  const length = random.int(1, 12);
  const scale = random.pick([1, 3, 10, 1000, 1_000_000]);
  return Array.from({ length }, () => (random.next() < 0.25 ? 0 : random.int(0, scale)));
}

describe('apportionTenths (largest remainder, one decimal)', () => {
  const cases: { votes: number[]; tenths: number[]; why: string }[] = [
    { votes: [], tenths: [], why: 'no options' },
    { votes: [0, 0, 0], tenths: [0, 0, 0], why: 'no votes: all 0' },
    { votes: [5], tenths: [1000], why: 'one option takes 100.0' },
    { votes: [1, 0, 0], tenths: [1000, 0, 0], why: 'options without votes get 0' },
    { votes: [1, 1], tenths: [500, 500], why: 'exact halves need no rounding' },
    { votes: [2, 1], tenths: [667, 333], why: '66.67 rounds up, 33.33 down' },
    { votes: [1, 1, 1], tenths: [334, 333, 333], why: 'equal remainders: the earliest option gets the leftover tenth' },
    { votes: [1, 1, 1, 0], tenths: [334, 333, 333, 0], why: 'a zero option never takes a leftover tenth' },
    { votes: [3, 3, 1], tenths: [429, 428, 143], why: 'largest remainder first (1/7 → 14.29), then position breaks the 3/7 tie' },
    { votes: [1, 3, 3], tenths: [143, 429, 428], why: 'same as above, positions moved' },
    { votes: [1, 1, 1, 1, 1, 1], tenths: [167, 167, 167, 167, 166, 166], why: 'four leftovers go to the first four of six equals' },
  ];
  for (const { votes, tenths, why } of cases) {
    it(`${JSON.stringify(votes)} → ${JSON.stringify(tenths)} (${why})`, () => {
      assert.deepEqual(apportionTenths(votes), tenths);
    });
  }

  it('refuses negative, fractional and unsafe counts', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assert.throws(() => apportionTenths([1, bad]), RangeError, `count ${bad}`);
    }
  });

  it(`holds the share invariants over 5000 random tallies (seed ${SEED})`, () => {
    const random = createRandom(SEED);
    for (let run = 0; run < 5000; run++) {
      const votes = randomVotes(random);
      const tenths = apportionTenths(votes);
      const total = votes.reduce((sum, count) => sum + count, 0);
      const context = `seed ${SEED}, run ${run}, votes ${JSON.stringify(votes)} → ${JSON.stringify(tenths)}`;
      assert.equal(tenths.length, votes.length, context);
      if (total === 0) {
        assert.ok(
          tenths.every((value) => value === 0),
          context,
        );
        continue;
      }
      assert.equal(
        tenths.reduce((sum, value) => sum + value, 0),
        1000,
        `sums to 100.0: ${context}`,
      );
      for (const [i, count] of votes.entries()) {
        const exact = (count * 1000) / total;
        const got = tenths[i] ?? Number.NaN;
        assert.ok(Number.isInteger(got) && got >= Math.floor(exact) && got <= Math.floor(exact) + 1, `within one tenth of exact ${exact}: ${context}`);
        if (count === 0) assert.equal(got, 0, `no votes, no share: ${context}`);
        for (const [j, other] of votes.entries()) {
          const otherGot = tenths[j] ?? Number.NaN;
          if (count > other) assert.ok(got >= otherGot, `more votes never show less: ${context}`);
          if (count === other && i < j) assert.ok(got - otherGot === 0 || got - otherGot === 1, `equals differ by the earlier one's tenth at most: ${context}`);
        }
      }
    }
  });
});

describe('computeShares', () => {
  it('gives percentages with at most one decimal', () => {
    const random = createRandom(SEED + 1);
    for (let run = 0; run < 500; run++) {
      for (const share of computeShares(randomVotes(random))) {
        assert.equal(share, Math.round(share * 10) / 10, `seed ${SEED + 1}: ${share} has one decimal`);
        assert.ok(share >= 0 && share <= 100);
      }
    }
  });

  it('reads as 100.0 when summed and rounded to one decimal', () => {
    assert.deepEqual(computeShares([1, 1, 1]), [33.4, 33.3, 33.3]);
    assert.equal(Math.round(computeShares([1, 1, 1]).reduce((sum, share) => sum + share, 0) * 10) / 10, 100);
  });
});

describe('leaderIndexes', () => {
  it('names every option holding the maximum, in order', () => {
    assert.deepEqual(leaderIndexes([3, 5, 5, 1]), [1, 2]);
    assert.deepEqual(leaderIndexes([7, 0]), [0]);
  });
  it('is empty when nobody voted', () => {
    assert.deepEqual(leaderIndexes([0, 0]), []);
    assert.deepEqual(leaderIndexes([]), []);
  });
});

describe('buildPollResults', () => {
  const optionIds = ['a', 'b', 'c'];

  it('lists every option in position order, 0 for options without votes', () => {
    const results = buildPollResults(
      optionIds,
      tally({
        options: [
          { optionId: 'c', votes: 2 },
          { optionId: 'a', votes: 6 },
        ],
      }),
      '2030-01-01T00:00:09.000Z',
    );
    assert.deepEqual(results.options, [
      { optionId: 'a', votes: 6, share: 75 },
      { optionId: 'b', votes: 0, share: 0 },
      { optionId: 'c', votes: 2, share: 25 },
    ]);
    assert.equal(results.totalVotes, 8);
    assert.deepEqual(results.leaders, ['a']);
    assert.equal(results.isTie, false);
    assert.equal(results.pollId, 'p');
    assert.equal(results.version, 3);
    assert.equal(results.votesPerSecond, 1.5);
    assert.equal(results.updatedAt, '2030-01-01T00:00:05.000Z');
    assert.equal(results.committedAtMs, Date.parse('2030-01-01T00:00:05.000Z'));
  });

  it('reports a tie with every leader', () => {
    const results = buildPollResults(
      optionIds,
      tally({
        options: [
          { optionId: 'b', votes: 4 },
          { optionId: 'c', votes: 4 },
          { optionId: 'a', votes: 1 },
        ],
      }),
      '',
    );
    assert.deepEqual(results.leaders, ['b', 'c']);
    assert.equal(results.isTie, true);
    assert.deepEqual(
      results.options.map((option) => option.share),
      [11.1, 44.5, 44.4],
    );
  });

  it('has no leaders, no tie and zero shares before the first vote', () => {
    const results = buildPollResults(
      optionIds,
      tally({ version: 0, options: [], updatedAt: undefined, committedAtMs: 0, votesPerSecond: 0 }),
      '2030-02-02T00:00:00.000Z',
    );
    assert.equal(results.totalVotes, 0);
    assert.deepEqual(results.leaders, []);
    assert.equal(results.isTie, false);
    assert.ok(results.options.every((option) => option.votes === 0 && option.share === 0));
    assert.equal(results.updatedAt, '2030-02-02T00:00:00.000Z', 'falls back to the read time');
  });

  it('takes updatedAt from the commit time when the tally has none', () => {
    const results = buildPollResults(optionIds, tally({ updatedAt: undefined, committedAtMs: Date.parse('2030-03-03T03:03:03.003Z') }), 'unused');
    assert.equal(results.updatedAt, '2030-03-03T03:03:03.003Z');
  });

  it('ignores tally entries for options outside the poll, so shares still add up', () => {
    const results = buildPollResults(
      optionIds,
      tally({
        options: [
          { optionId: 'a', votes: 1 },
          { optionId: 'zzz', votes: 99 },
        ],
      }),
      '',
    );
    assert.equal(results.totalVotes, 1);
    assert.deepEqual(
      results.options.map((option) => option.share),
      [100, 0, 0],
    );
  });

  it(`keeps totals, shares and leaders consistent over random tallies (seed ${SEED})`, () => {
    const random = createRandom(SEED + 2);
    for (let run = 0; run < 1000; run++) {
      const votes = randomVotes(random);
      const ids = votes.map((_, index) => `o${index}`);
      const snapshot = tally({ options: ids.flatMap((optionId, index) => ((votes[index] ?? 0) > 0 ? [{ optionId, votes: votes[index] ?? 0 }] : [])) });
      const results = buildPollResults(ids, snapshot, '');
      const context = `seed ${SEED + 2}, run ${run}, votes ${JSON.stringify(votes)}`;
      assert.deepEqual(
        results.options.map((option) => option.optionId),
        ids,
        context,
      );
      assert.deepEqual(
        results.options.map((option) => option.votes),
        votes,
        context,
      );
      assert.equal(
        results.totalVotes,
        votes.reduce((sum, count) => sum + count, 0),
        context,
      );
      const max = Math.max(...votes);
      assert.deepEqual(results.leaders, max === 0 ? [] : ids.filter((_, index) => votes[index] === max), context);
      assert.equal(results.isTie, results.leaders.length > 1, context);
      const tenths = results.options.reduce((sum, option) => sum + Math.round(option.share * 10), 0);
      assert.equal(tenths, results.totalVotes > 0 ? 1000 : 0, context);
    }
  });
});
