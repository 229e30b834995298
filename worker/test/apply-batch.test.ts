import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseBusMessage, type BusMessage } from '@votemesh/common/contracts/bus';
import { VOTE_FIELD } from '@votemesh/common/contracts/vote-entry';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { applyBatch } from '../src/apply-batch.ts';
import { splitEntries } from '../src/outcomes.ts';
import { readGroup, ensureGroup, type StreamEntry } from '../src/stream.ts';
import { commitVotesLocked } from '../src/tally-sql.ts';
import { createHarness, voteEntry, REDIS_URL, seededRandom, type Harness, type TestPoll } from './support/harness.ts';
import { encodeLegacyVoteEntry } from './support/legacy-entry.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

async function expectCounts(poll: TestPoll, expected: readonly number[]): Promise<void> {
  const votes = await h.optionVotes(poll.id);
  assert.deepEqual(
    poll.optionIds.map((id) => votes.get(id) ?? 0),
    expected,
  );
  assert.equal(
    (await h.pollTally(poll.id))?.totalVotes ?? 0,
    expected.reduce((a, b) => a + b, 0),
  );
}

describe('applyBatch: ballots and tallies', () => {
  it('counts new ballots and a change of mind exactly, superseding the old receipt', async () => {
    const poll = await h.createPoll(3);
    const [a, b] = poll.optionIds as [string, string, string];
    const first = [
      voteEntry('1000-0', { pollId: poll.id, optionId: a, voterId: 'v1' }),
      voteEntry('1000-1', { pollId: poll.id, optionId: a, voterId: 'v2' }),
      voteEntry('1000-2', { pollId: poll.id, optionId: b, voterId: 'v3' }),
    ];
    const report1 = await applyBatch(h.applyDeps, first);
    assert.deepEqual({ counted: report1.counted, applied: report1.applied }, { counted: 3, applied: 3 });
    await expectCounts(poll, [2, 1, 0]);

    const change = voteEntry('2000-0', { pollId: poll.id, optionId: b, voterId: 'v1' });
    const report2 = await applyBatch(h.applyDeps, [change]);
    assert.equal(report2.counted, 1);
    await expectCounts(poll, [1, 2, 0]);
    assert.deepEqual(await h.pollTally(poll.id), { totalVotes: 3, version: 2 });
    assert.equal(report2.tallies[0]?.version, 2);
    assert.deepEqual(
      report2.tallies[0]?.options.map((o) => [o.optionId, o.votes]),
      [
        [a, 1],
        [b, 2],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );

    assert.equal((await h.receipt(change.receiptId))['status'], 'COUNTED');
    const replaced = await h.receipt(first[0]!.receiptId);
    assert.equal(replaced['status'], 'SUPERSEDED');
    assert.equal(replaced['reason'], 'Replaced by a newer vote');
    assert.ok(h.audit.events.some((e) => e.action === 'vote.superseded' && e.subjectId === first[0]!.receiptId));
    assert.ok(h.audit.events.some((e) => e.action === 'vote.counted' && e.subjectId === change.receiptId));
  });

  it("traces a superseded receipt's audit event to the vote that replaced it", async () => {
    const poll = await h.createPoll(2);
    const firstTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const secondTrace = '0af7651916cd43dd8448eb211c80319c';
    const first = voteEntry('2500-0', {
      pollId: poll.id,
      optionId: poll.optionIds[0]!,
      voterId: 'traced',
      traceparent: `00-${firstTrace}-00f067aa0ba902b7-01`,
    });
    await applyBatch(h.applyDeps, [first]);
    const second = voteEntry('2500-1', {
      pollId: poll.id,
      optionId: poll.optionIds[1]!,
      voterId: 'traced',
      traceparent: `00-${secondTrace}-b7ad6b7169203331-01`,
    });
    await applyBatch(h.applyDeps, [second]);
    const superseded = h.audit.events.find((event) => event.action === 'vote.superseded' && event.subjectId === first.receiptId);
    assert.equal(superseded?.traceId, secondTrace);
    assert.equal(h.audit.events.find((event) => event.action === 'vote.counted' && event.subjectId === first.receiptId)?.traceId, firstTrace);
  });

  it('treats a replayed batch as a no-op that still answers COUNTED', async () => {
    const poll = await h.createPoll(2);
    const batch = [
      voteEntry('3000-0', { pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'v1' }),
      voteEntry('3000-1', { pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'v2' }),
    ];
    await applyBatch(h.applyDeps, batch);
    const replay = await applyBatch(h.applyDeps, batch);
    // Nothing changes; the poll's current tally is answered again (the first settle may never have
    // published it), at the version the first apply committed.
    assert.deepEqual(
      { counted: replay.counted, applied: replay.applied, tallies: replay.tallies.map((tally) => [tally.pollId, tally.version, tally.totalVotes]) },
      { counted: 2, applied: 0, tallies: [[poll.id, 1, 2]] },
    );
    await expectCounts(poll, [1, 1]);
    assert.deepEqual(await h.pollTally(poll.id), { totalVotes: 2, version: 1 });
    for (const { receiptId } of batch) assert.equal((await h.receipt(receiptId))['status'], 'COUNTED');
  });

  it('supersedes an older entry that arrives after a newer one (reorder)', async () => {
    const poll = await h.createPoll(2);
    const [a, b] = poll.optionIds as [string, string];
    await applyBatch(h.applyDeps, [voteEntry('5000-0', { pollId: poll.id, optionId: b, voterId: 'v1' })]);
    const older = voteEntry('4000-0', { pollId: poll.id, optionId: a, voterId: 'v1' });
    const report = await applyBatch(h.applyDeps, [older]);
    assert.deepEqual({ superseded: report.superseded, applied: report.applied }, { superseded: 1, applied: 0 });
    await expectCounts(poll, [0, 1]);
    const receipt = await h.receipt(older.receiptId);
    assert.equal(receipt['status'], 'SUPERSEDED');
    assert.match(receipt['reason'] ?? '', /newer vote/);
  });

  it('keeps only the newest entry per voter within one batch, whatever order it arrives in', async () => {
    const poll = await h.createPoll(3);
    const [a, b, c] = poll.optionIds as [string, string, string];
    const batch = [
      voteEntry('6000-2', { pollId: poll.id, optionId: c, voterId: 'v1' }),
      voteEntry('6000-0', { pollId: poll.id, optionId: a, voterId: 'v1' }),
      voteEntry('6000-3', { pollId: poll.id, optionId: a, voterId: 'v2' }),
      voteEntry('6000-1', { pollId: poll.id, optionId: b, voterId: 'v1' }),
    ];
    const report = await applyBatch(h.applyDeps, batch);
    assert.deepEqual({ counted: report.counted, superseded: report.superseded }, { counted: 2, superseded: 2 });
    await expectCounts(poll, [1, 0, 1]);
    assert.equal((await h.receipt(batch[0]!.receiptId))['status'], 'COUNTED');
    assert.equal((await h.receipt(batch[1]!.receiptId))['status'], 'SUPERSEDED');
    assert.equal((await h.receipt(batch[3]!.receiptId))['status'], 'SUPERSEDED');
  });

  it('rejects votes for a poll that does not exist or an option of another poll, with a reason', async () => {
    const poll = await h.createPoll(2);
    const other = await h.createPoll(2);
    const unknownPoll = voteEntry('7000-0', { pollId: randomUUID(), optionId: poll.optionIds[0]!, voterId: 'v1' });
    const foreignOption = voteEntry('7000-1', { pollId: poll.id, optionId: other.optionIds[0]!, voterId: 'v2' });
    const fine = voteEntry('7000-2', { pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'v3' });
    const report = await applyBatch(h.applyDeps, [unknownPoll, foreignOption, fine]);
    assert.deepEqual({ counted: report.counted, rejected: report.rejected }, { counted: 1, rejected: 2 });
    await expectCounts(poll, [0, 1]);
    assert.match((await h.receipt(unknownPoll.receiptId))['reason'] ?? '', /^POLL_NOT_FOUND/);
    assert.match((await h.receipt(foreignOption.receiptId))['reason'] ?? '', /^OPTION_NOT_IN_POLL/);
    assert.ok(h.audit.events.some((e) => e.action === 'vote.rejected' && e.subjectId === foreignOption.receiptId));
  });

  it('the locking path rejects the same votes with the same reasons as the fast path', async () => {
    const poll = await h.createPoll(2);
    const other = await h.createPoll(2);
    const entries = (ms: number) => [
      voteEntry(`${ms}-0`, { pollId: randomUUID(), optionId: poll.optionIds[0]!, voterId: 'v1' }),
      voteEntry(`${ms}-1`, { pollId: poll.id, optionId: other.optionIds[0]!, voterId: 'v2' }),
    ];
    const fast = entries(7100);
    await applyBatch(h.applyDeps, fast);
    const fastReasons = await Promise.all(fast.map(async (entry) => (await h.receipt(entry.receiptId))['reason']));
    const locked = entries(7200);
    const result = await commitVotesLocked(h.prisma, splitEntries(locked).votes, { windowSeconds: 5 });
    const lockedReasons = locked.map((entry) => {
      const outcome = result.decided.find(({ vote }) => vote.entry.receiptId === entry.receiptId)?.outcome;
      return outcome?.status === 'REJECTED' ? outcome.reason : outcome?.status;
    });
    assert.deepEqual(lockedReasons, fastReasons);
    assert.match(lockedReasons[0] ?? '', /^POLL_NOT_FOUND/);
    assert.match(lockedReasons[1] ?? '', /^OPTION_NOT_IN_POLL/);
  });
});

describe('applyBatch: through the stream', () => {
  it('rejects, acks and audits malformed entries instead of dropping or blocking on them, in either layout', async () => {
    const poll = await h.createPoll(2);
    await ensureGroup(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup });
    const receiptId = randomUUID();
    const jsonReceiptId = randomUUID();
    const castAt = new Date().toISOString();
    await h.redis.xadd(h.keys.votes, '*', 'receiptId', receiptId, 'pollId', poll.id, 'voterId', 'v1', 'castAt', castAt);
    await h.redis.xadd(h.keys.votes, '*', 'garbage', 'yes');
    await h.redis.xadd(h.keys.votes, '*', VOTE_FIELD, JSON.stringify({ receiptId: jsonReceiptId, pollId: poll.id, voterId: 'v3', castAt }));
    await h.redis.xadd(h.keys.votes, '*', VOTE_FIELD, `{"receiptId":"${randomUUID()}"`);
    const good = await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'v2' });
    // Written by a vote subgraph older than the single-field layout, still queued after the upgrade.
    const legacyReceiptId = randomUUID();
    await h.redis.xadd(
      h.keys.votes,
      '*',
      ...encodeLegacyVoteEntry({ receiptId: legacyReceiptId, pollId: poll.id, optionId: poll.optionIds[1]!, voterId: 'v4', castAt }),
    );
    const before = (await h.metrics.votesApplied.get()).values.find((v) => v.labels.outcome === 'rejected')?.value ?? 0;

    const entries = await readGroup(h.redis, { key: h.keys.votes, group: h.keys.tallyGroup }, { consumer: 'test', count: 100, from: '>' });
    assert.equal(entries.length, 6);
    const report = await applyBatch(h.applyDeps, entries);
    assert.deepEqual({ counted: report.counted, rejected: report.rejected }, { counted: 2, rejected: 4 });
    await expectCounts(poll, [1, 1]);

    for (const id of [receiptId, jsonReceiptId]) {
      const receipt = await h.receipt(id);
      assert.equal(receipt['status'], 'REJECTED');
      assert.match(receipt['reason'] ?? '', /^Malformed vote: vote stream entry: field "optionId" must be a non-empty string$/);
      const audited = h.audit.events.find((e) => e.action === 'vote.rejected' && e.subjectId === id);
      assert.equal(audited?.pollId, poll.id, 'the salvaged poll id reaches the audit event');
    }
    assert.equal((await h.receipt(good.receiptId))['status'], 'COUNTED');
    assert.equal((await h.receipt(legacyReceiptId))['status'], 'COUNTED');
    const rejected = h.audit.events.filter(
      (e) => e.action === 'vote.rejected' && e.data?.['streamId'] !== undefined && entries.some((x) => x.id === e.data?.['streamId']),
    );
    assert.equal(rejected.length, 4);
    assert.ok(rejected.some((e) => /field "vote" is not valid JSON/.test(String(e.data?.['reason']))));
    const afterCount = (await h.metrics.votesApplied.get()).values.find((v) => v.labels.outcome === 'rejected')?.value ?? 0;
    assert.equal(afterCount - before, 4);
    // Acked and deleted: nothing pending, nothing left in the stream.
    assert.equal(await h.redis.xlen(h.keys.votes), 0);
    const pending = (await h.redis.call('XPENDING', h.keys.votes, h.keys.tallyGroup)) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
  });

  it('publishes the receipts of a batch in one message, then one tally message per touched poll, after commit', async () => {
    const poll = await h.createPoll(2);
    const subscriber = new Redis(REDIS_URL);
    const messages: BusMessage[] = [];
    subscriber.on('message', (_channel: string, text: string) => messages.push(parseBusMessage(text)));
    await subscriber.subscribe(h.keys.channel('tally'), h.keys.channel('receipts'), h.keys.channel('receipt'));
    try {
      const votes = [
        voteEntry('8000-0', { pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'v1' }),
        voteEntry('8000-1', { pollId: poll.id, optionId: poll.optionIds[0]!, voterId: 'v2' }),
      ];
      await applyBatch(h.applyDeps, votes);
      const tally = await waitFor(() => messages.find((m) => m.type === 'tally' && m.pollId === poll.id), { what: 'tally message' });
      assert.ok(tally.type === 'tally');
      assert.deepEqual(
        { version: tally.version, totalVotes: tally.totalVotes, options: tally.options },
        { version: 1, totalVotes: 2, options: [{ optionId: poll.optionIds[0], votes: 2 }] },
      );
      assert.ok(tally.votesPerSecond > 0, 'votes applied just now show up in the rolling window');
      assert.ok(Math.abs(tally.committedAtMs - Date.now()) < 10_000);
      // Receipts go out before the tally in the same pipeline: by now their message has arrived.
      const receipts = messages.filter((m) => m.type === 'receipts');
      assert.equal(receipts.length, 1, 'one receipts message for the batch');
      assert.ok(messages.indexOf(tally) > messages.indexOf(receipts[0]!));
      assert.deepEqual(
        receipts[0]?.type === 'receipts' && receipts[0].receipts,
        votes.map((vote) => ({ receiptId: vote.receiptId, pollId: poll.id, status: 'COUNTED' })),
      );
      assert.deepEqual(
        messages.filter((m) => m.type === 'receipt'),
        [],
        'no single receipt messages',
      );
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('applyBatch: exactness under replays, reorders and duplicates (property)', () => {
  for (const seed of [1, 2, 3]) {
    it(`matches a newest-vote-wins model (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      const polls = [await h.createPoll(3), await h.createPoll(4)];
      const voters = Array.from({ length: 40 }, (_, i) => `voter-${seed}-${i}`);
      const all: (StreamEntry & { receiptId: string; pollIndex: number; option: string; voter: string })[] = [];
      for (let i = 0; i < 600; i += 1) {
        const pollIndex = Math.floor(random() * polls.length);
        const poll = polls[pollIndex]!;
        const option = poll.optionIds[Math.floor(random() * poll.optionIds.length)]!;
        const voter = voters[Math.floor(random() * voters.length)]!;
        // Ids grow with i: the model's "newest" is the highest i.
        all.push({
          ...voteEntry(`${10_000 + i}-${Math.floor(random() * 3)}`, { pollId: poll.id, optionId: option, voterId: voter }),
          pollIndex,
          option,
          voter,
        });
      }
      // Deliver in random-size batches, shuffled within and across, with a third of the batches replayed.
      const batches: StreamEntry[][] = [];
      for (let start = 0; start < all.length; ) {
        const size = 1 + Math.floor(random() * 80);
        batches.push(all.slice(start, start + size));
        start += size;
      }
      const deliveries = [...batches, ...batches.filter(() => random() < 0.33)]
        .map((batch) => [...batch].sort(() => random() - 0.5))
        .sort(() => random() - 0.5);
      for (const batch of deliveries) await applyBatch(h.applyDeps, batch);

      const newest = new Map<string, (typeof all)[number]>();
      for (const vote of all) newest.set(`${vote.pollIndex}/${vote.voter}`, vote);
      for (const [index, poll] of polls.entries()) {
        const expected = poll.optionIds.map((optionId) => [...newest.values()].filter((v) => v.pollIndex === index && v.option === optionId).length);
        await expectCounts(poll, expected);
      }
      for (const vote of newest.values()) assert.equal((await h.receipt(vote.receiptId))['status'], 'COUNTED');
    });
  }
});
