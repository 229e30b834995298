// closePoll against castVote on the same replica. castVote reads polls through an in-memory cache;
// the replica that closes a poll must stop accepting votes for it as soon as the close commits, not
// only once closePoll has read the poll back and announced the change. The test holds closePoll
// between the two (its read-back of the poll's options waits for a table lock the test holds) and
// casts a vote there: it must be refused, and nothing written.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { ADMIN, createOpenPoll, OTHER_VOTER, POLL_FIELDS, startStack, VOTER, type GraphQLResult, type PollView, type Stack } from './support.ts';

const CAST = `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id castAt } }`;
const CLOSE = `mutation ($id: ID!) { closePoll(id: $id) { ${POLL_FIELDS} } }`;

describe('vote subgraph: closePoll and castVote on one replica', () => {
  let stack: Stack;
  before(async () => {
    // A TTL far longer than the test: only the close itself may drop the cached poll.
    stack = await startStack({ pollCacheTtlMs: 600_000, schedulerSweepMs: 600_000 });
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  async function statementsWaitingForLocks(): Promise<number> {
    const rows = await stack.prisma.$queryRaw<{ waiting: bigint }[]>`
      SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    return Number(rows[0]?.waiting ?? 0);
  }

  async function pollStatus(id: string): Promise<string | undefined> {
    const rows = await stack.prisma.$queryRaw<{ status: string }[]>`SELECT status::text AS status FROM polls WHERE id = ${id}::uuid`;
    return rows[0]?.status;
  }

  it('refuses a vote cast once the close committed, before closePoll has returned', async () => {
    const keys = createRedisKeys(stack.prefix);
    const poll = await createOpenPoll(stack);
    const optionId = poll.options[0]?.id;
    // The replica now holds the OPEN poll in its cache.
    await stack.data(CAST, { pollId: poll.id, optionId }, VOTER);
    const entriesBefore = await stack.redis.xlen(keys.votes);

    let closing: Promise<{ closePoll: PollView }> | undefined;
    let late: Promise<GraphQLResult> | undefined;
    let lateSettled = false;
    await stack.prisma.$transaction(
      async (tx) => {
        // closePoll's UPDATE of polls commits; its read-back (polls with their options) then waits.
        await tx.$executeRaw`LOCK TABLE poll_options IN ACCESS EXCLUSIVE MODE`;
        closing = stack.data<{ closePoll: PollView }>(CLOSE, { id: poll.id }, ADMIN);
        closing.catch(() => undefined);
        await waitFor(async () => (await pollStatus(poll.id)) === 'CLOSED', { what: 'the close to commit' });
        late = stack.request(CAST, { pollId: poll.id, optionId }, OTHER_VOTER);
        const settled = (): void => {
          lateSettled = true;
        };
        late.then(settled, settled);
        // Answered from the cache (the defect), or waiting for the lock like closePoll's read-back
        // (the cached poll was dropped when the close committed).
        await waitFor(async () => lateSettled || (await statementsWaitingForLocks()) >= 2, { what: 'the late castVote to answer or read the poll' });
      },
      { timeout: 20_000 },
    );
    assert.ok(closing && late);
    assert.equal((await closing).closePoll.status, 'CLOSED');
    const result = await late;
    assert.equal(result.errors?.[0]?.extensions?.['code'], 'POLL_NOT_OPEN', `the vote was refused, got ${JSON.stringify(result)}`);
    const after = await stack.request(CAST, { pollId: poll.id, optionId }, { subject: 'voter-3', role: 'voter' });
    assert.equal(after.errors?.[0]?.extensions?.['code'], 'POLL_NOT_OPEN', 'and a vote cast after closePoll returned');
    assert.equal(await stack.redis.xlen(keys.votes), entriesBefore, 'no stream entry');
  });
});
