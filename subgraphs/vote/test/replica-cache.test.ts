// Two vote subgraph replicas over one PostgreSQL database and one Redis, each with its own poll
// cache. castVote on replica B must follow a poll opened or closed on replica A (by an admin or by
// the schedule) as soon as B has the poll-status message, not when B's cached copy expires: the
// caches here live far longer than the test (POLL_CACHE_TTL_MS 600 s), so only the message (or, after
// a bus gap, the cleared cache) can change what B answers. B's own pollStatus subscription tells the
// test when B has handled the message: the cache and the subscription read the same channel, the
// cache first (server.ts subscribes it at start), within one dispatch.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import {
  ADMIN,
  createOpenPoll,
  createPoll,
  POLL_FIELDS,
  startStack,
  subscribe,
  VOTER,
  waitForActiveSubscriptions,
  activeSubscriptions,
  type PollView,
  type Stack,
} from './support.ts';

const CAST = `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }`;
const OPEN = `mutation ($id: ID!) { openPoll(id: $id) { ${POLL_FIELDS} } }`;
const CLOSE = `mutation ($id: ID!) { closePoll(id: $id) { ${POLL_FIELDS} } }`;
const POLL_STATUS = `subscription ($pollId: ID!) { pollStatus(pollId: $pollId) { status at } }`;

describe('vote subgraph: two replicas, one poll', () => {
  let a: Stack;
  let b: Stack;
  before(async () => {
    a = await startStack({ pollCacheTtlMs: 600_000, schedulerSweepMs: 600_000 });
    b = await startStack({ replicaOf: a, pollCacheTtlMs: 600_000, schedulerSweepMs: 600_000 });
  });
  after(async () => {
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
  });

  async function castOnB(poll: PollView, voter = VOTER): Promise<string | undefined> {
    const result = await b.request(CAST, { pollId: poll.id, optionId: poll.options[0]?.id }, voter);
    return result.errors ? String(result.errors[0]?.extensions?.['code']) : undefined;
  }

  /** B's pollStatus subscription to `poll`, live once B's bus delivers to it. */
  async function watchOnB(poll: PollView): Promise<ReturnType<typeof subscribe<{ pollStatus: { status: string } }>>> {
    const active = await activeSubscriptions(b, 'pollStatus');
    const statuses = subscribe<{ pollStatus: { status: string } }>(b.ws(), POLL_STATUS, { pollId: poll.id });
    await waitForActiveSubscriptions(b, 'pollStatus', active + 1);
    return statuses;
  }

  it('refuses votes on B once the close made on A has reached it', async () => {
    const poll = await createOpenPoll(a);
    assert.equal(await castOnB(poll), undefined, 'B accepts while the poll is open (and caches it OPEN)');
    const statuses = await watchOnB(poll);
    const entries = await a.redis.xlen(createRedisKeys(a.prefix).votes);
    await a.data(CLOSE, { id: poll.id }, ADMIN);
    await statuses.first((event) => event.pollStatus.status === 'CLOSED');
    assert.equal(await castOnB(poll, { subject: 'voter-late', role: 'voter' }), 'POLL_NOT_OPEN');
    assert.equal(await a.redis.xlen(createRedisKeys(a.prefix).votes), entries, 'no stream entry for the refused vote');
  });

  it('accepts votes on B once the open made on A has reached it', async () => {
    const poll = await createPoll(a);
    assert.equal(await castOnB(poll), 'POLL_NOT_OPEN', 'B refuses the DRAFT poll (and caches it)');
    const statuses = await watchOnB(poll);
    await a.data(OPEN, { id: poll.id }, ADMIN);
    await statuses.first((event) => event.pollStatus.status === 'OPEN');
    assert.equal(await castOnB(poll), undefined);
    statuses.unsubscribe();
  });

  it('accepts votes on B once a scheduled open has been announced', async () => {
    const poll = await createPoll(a, { opensAt: new Date(Date.now() + 1500).toISOString() });
    assert.equal(await castOnB(poll), 'POLL_NOT_OPEN', 'B refuses the poll before it opens (and caches it DRAFT)');
    const statuses = await watchOnB(poll);
    // Whichever replica's scheduler opens it, the announcement reaches B.
    await statuses.first((event) => event.pollStatus.status === 'OPEN');
    assert.equal(await castOnB(poll), undefined);
    statuses.unsubscribe();
  });

  it('forgets its cached polls after a bus gap, which may have swallowed a close', async () => {
    const poll = await createOpenPoll(a);
    assert.equal(await castOnB(poll), undefined, 'B caches the poll OPEN');
    const statuses = await watchOnB(poll);
    // Closed by a replica whose announcement went out while B's bus was away (B never gets it).
    await a.prisma.poll.update({ where: { id: poll.id }, data: { status: 'CLOSED', closesAt: new Date() } });
    await b.killBusSubscriber();
    // The subscription's gap re-read reports the close; the cache was cleared before it (first gap listener).
    await statuses.first((event) => event.pollStatus.status === 'CLOSED');
    assert.equal(await castOnB(poll, { subject: 'voter-after-gap', role: 'voter' }), 'POLL_NOT_OPEN');
  });
});
