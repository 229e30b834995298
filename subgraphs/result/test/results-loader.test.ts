import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VotemeshError } from '@votemesh/common/errors';
import type { PollOptionSource } from '../src/poll-options.ts';
import { createResultsLoader } from '../src/results-loader.ts';
import type { TallySnapshot } from '../src/results.ts';
import type { TallySource } from '../src/tally-client.ts';

function fakes(polls: Record<string, string[]>, votes: Record<string, Record<string, number>> = {}) {
  const optionQueries: (readonly string[])[] = [];
  const tallyReads: string[] = [];
  const options: PollOptionSource = {
    async loadOptionIds(pollIds) {
      optionQueries.push(pollIds);
      return new Map(pollIds.flatMap((id) => (polls[id] ? [[id, polls[id]] as const] : [])));
    },
  };
  const tally: TallySource = {
    async getResults(pollId): Promise<TallySnapshot> {
      tallyReads.push(pollId);
      if (pollId === 'down') throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'tally down');
      const counts = votes[pollId] ?? {};
      return {
        pollId,
        version: 1,
        options: Object.entries(counts).map(([optionId, count]) => ({ optionId, votes: count })),
        votesPerSecond: 0,
        updatedAt: undefined,
        committedAtMs: 0,
      };
    },
    watchResults: () => assert.fail('not used'),
    checkReady: async () => {},
  };
  return { options, tally, optionQueries, tallyReads };
}

describe('results loader', () => {
  it('answers loads from one turn with ONE options query and one tally read per distinct poll', async () => {
    const f = fakes({ p1: ['a', 'b'], p2: ['c'] }, { p1: { b: 3 } });
    const loader = createResultsLoader({ options: f.options, tally: f.tally, now: () => new Date(0) });
    const [one, two, oneAgain] = await Promise.all([loader.load('p1'), loader.load('p2'), loader.load('p1')]);
    assert.equal(f.optionQueries.length, 1);
    assert.deepEqual(f.optionQueries[0], ['p1', 'p2']);
    assert.deepEqual(f.tallyReads.sort(), ['p1', 'p2']);
    assert.deepEqual(
      one?.options.map((option) => [option.optionId, option.votes]),
      [
        ['a', 0],
        ['b', 3],
      ],
    );
    assert.equal(two?.totalVotes, 0);
    assert.equal(oneAgain, one);
  });

  it('batches loads that arrive over several promise turns', async () => {
    const f = fakes({ p1: ['a'], p2: ['b'], p3: ['c'] });
    const loader = createResultsLoader({ options: f.options, tally: f.tally, now: () => new Date(0) });
    const later = (id: string) =>
      Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => loader.load(id));
    await Promise.all([loader.load('p1'), later('p2'), later('p3')]);
    assert.equal(f.optionQueries.length, 1);
  });

  it('rejects only the failing polls: unknown → POLL_NOT_FOUND, tally down → UPSTREAM_UNAVAILABLE', async () => {
    const f = fakes({ p1: ['a'], down: ['x'] });
    const loader = createResultsLoader({ options: f.options, tally: f.tally, now: () => new Date(0) });
    const [ok, missing, down] = await Promise.allSettled([loader.load('p1'), loader.load('nope'), loader.load('down')]);
    assert.equal(ok.status, 'fulfilled');
    assert.equal(missing.status === 'rejected' && (missing.reason as VotemeshError).code, 'POLL_NOT_FOUND');
    assert.equal(down.status === 'rejected' && (down.reason as VotemeshError).code, 'UPSTREAM_UNAVAILABLE');
    assert.ok(!f.tallyReads.includes('nope'), 'no tally read for a poll that does not exist');
  });
});
