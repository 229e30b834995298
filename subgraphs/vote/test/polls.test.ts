// Poll lifecycle over HTTP and graphql-ws against the real subgraph: create (with every validation
// rule), open/close and their conflicts, scheduled open/close, pollStatus, pagination, entities.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  activeSubscriptions,
  ADMIN,
  createOpenPoll,
  createPoll,
  POLL_FIELDS,
  startStack,
  subscribe,
  VOTER,
  waitForActiveSubscriptions,
  type PollView,
  type Stack,
} from './support.ts';
import { refuseConnections } from '@votemesh/common/testing/database';
import { waitFor } from '@votemesh/common/testing/wait-for';

const CREATE = `mutation ($input: CreatePollInput!) { createPoll(input: $input) { ${POLL_FIELDS} } }`;
const OPEN = `mutation ($id: ID!) { openPoll(id: $id) { ${POLL_FIELDS} } }`;
const CLOSE = `mutation ($id: ID!) { closePoll(id: $id) { ${POLL_FIELDS} } }`;
const POLL = `query ($id: ID!) { poll(id: $id) { ${POLL_FIELDS} } }`;
const POLLS = `query ($status: PollStatus, $first: Int, $after: String) {
  polls(status: $status, first: $first, after: $after) { edges { cursor node { id status question } } pageInfo { hasNextPage endCursor } } }`;
const POLL_STATUS = `subscription ($pollId: ID!) { pollStatus(pollId: $pollId) { status at poll { id status } } }`;

/** Failed gap re-reads the subgraph logged for a poll. */
function rereadFailures(stack: Stack, pollId: string): number {
  return stack.logs.filter((line) => line['pollId'] === pollId && line.msg.startsWith('pollStatus could not re-read')).length;
}

function inSeconds(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString();
}

describe('vote subgraph: polls', () => {
  let stack: Stack;
  before(async () => {
    // A long safety sweep: scheduled transitions must come from the timer planned for them.
    stack = await startStack({ schedulerSweepMs: 60_000 });
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  describe('createPoll', () => {
    it('creates a DRAFT poll with options in order, trimmed, and audits it', async () => {
      const poll = await createPoll(stack, { question: '  Best language?  ', options: [' TypeScript', 'Rust ', 'Go'] });
      assert.equal(poll.status, 'DRAFT');
      assert.equal(poll.question, 'Best language?');
      assert.deepEqual(
        poll.options.map((option) => [option.label, option.position]),
        [
          ['TypeScript', 0],
          ['Rust', 1],
          ['Go', 2],
        ],
      );
      assert.equal(poll.opensAt, null);
      assert.ok(Date.parse(poll.createdAt) <= Date.now());
      const event = stack.audit.events.find((candidate) => candidate.subjectId === poll.id);
      assert.equal(event?.action, 'poll.created');
      assert.equal(event?.actor, ADMIN.subject);
      assert.equal(event?.pollId, poll.id);
      const stored = await stack.prisma.poll.findUnique({ where: { id: poll.id }, include: { options: true } });
      assert.equal(stored?.createdBy, ADMIN.subject);
      assert.equal(stored?.options.length, 3);
    });

    const invalid: { name: string; input: Record<string, unknown>; field: string }[] = [
      { name: 'empty question', input: { question: '   ' }, field: 'input.question' },
      { name: 'question over 300 characters', input: { question: 'q'.repeat(301) }, field: 'input.question' },
      { name: 'one option', input: { options: ['Only'] }, field: 'input.options' },
      { name: '21 options', input: { options: Array.from({ length: 21 }, (_, i) => `Option ${i}`) }, field: 'input.options' },
      { name: 'empty label', input: { options: ['Yes', ' '] }, field: 'input.options[1]' },
      { name: 'label over 100 characters', input: { options: ['Yes', 'n'.repeat(101)] }, field: 'input.options[1]' },
      { name: 'duplicate labels (case-insensitive)', input: { options: ['Yes', 'No', 'yes'] }, field: 'input.options[2]' },
      { name: 'opensAt in the past', input: { opensAt: inSeconds(-60) }, field: 'input.opensAt' },
      { name: 'closesAt in the past', input: { closesAt: inSeconds(-60) }, field: 'input.closesAt' },
      { name: 'closesAt before opensAt', input: { opensAt: inSeconds(120), closesAt: inSeconds(60) }, field: 'input.closesAt' },
    ];
    for (const { name, input, field } of invalid) {
      it(`refuses ${name} with BAD_USER_INPUT naming ${field}`, async () => {
        const before = await stack.prisma.poll.count();
        const result = await stack.request(CREATE, { input: { question: 'Q?', options: ['A', 'B'], ...input } }, ADMIN);
        assert.equal(result.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT');
        assert.equal(result.errors?.[0]?.extensions?.['field'], field);
        assert.match(result.errors?.[0]?.message ?? '', new RegExp(`^${field.replace(/[[\]]/g, '\\$&')} `));
        assert.equal(await stack.prisma.poll.count(), before, 'nothing was written');
      });
    }

    it('refuses a malformed DateTime', async () => {
      const result = await stack.request(CREATE, { input: { question: 'Q?', options: ['A', 'B'], opensAt: 'tomorrow' } }, ADMIN);
      assert.equal(result.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT');
      assert.match(result.errors?.[0]?.message ?? '', /DateTime/);
    });
  });

  describe('openPoll / closePoll', () => {
    it('moves DRAFT → OPEN → CLOSED, publishing and auditing each change', async () => {
      const poll = await createPoll(stack);
      const active = await activeSubscriptions(stack, 'pollStatus');
      const statuses = subscribe<{ pollStatus: { status: string; at: string; poll: { id: string; status: string } } }>(stack.ws(), POLL_STATUS, {
        pollId: poll.id,
      });
      await waitForActiveSubscriptions(stack, 'pollStatus', active + 1);

      const opened = await stack.data<{ openPoll: PollView }>(OPEN, { id: poll.id }, ADMIN);
      assert.equal(opened.openPoll.status, 'OPEN');
      assert.ok(opened.openPoll.opensAt, 'opensAt is set to the moment it opened');
      // The DRAFT announcement of createPoll may still be in flight when the subscription starts.
      const openEvent = await statuses.first((event) => event.pollStatus.status === 'OPEN');
      assert.equal(openEvent.pollStatus.status, 'OPEN');
      assert.equal(openEvent.pollStatus.poll.id, poll.id);
      assert.equal(openEvent.pollStatus.poll.status, 'OPEN');

      const closed = await stack.data<{ closePoll: PollView }>(CLOSE, { id: poll.id }, ADMIN);
      assert.equal(closed.closePoll.status, 'CLOSED');
      assert.ok(closed.closePoll.closesAt);
      const closeEvent = await statuses.first((event) => event.pollStatus.status === 'CLOSED');
      assert.equal(closeEvent.pollStatus.status, 'CLOSED');
      assert.equal(closeEvent.pollStatus.poll.status, 'CLOSED');
      // CLOSED is the last status a poll has: the stream ends with it.
      await statuses.waitForCompletion();
      await waitForActiveSubscriptions(stack, 'pollStatus', active);

      const actions = stack.audit.events.filter((event) => event.pollId === poll.id).map((event) => event.action);
      assert.deepEqual(actions, ['poll.created', 'poll.opened', 'poll.closed']);
      statuses.unsubscribe();
    });

    it('completes at once, with no event, for a poll that is already closed', async () => {
      const poll = await createOpenPoll(stack);
      await stack.data(CLOSE, { id: poll.id }, ADMIN);
      const statuses = subscribe<{ pollStatus: { status: string } }>(stack.ws(), POLL_STATUS, { pollId: poll.id });
      await statuses.waitForCompletion();
      assert.deepEqual(statuses.events, []);
      assert.deepEqual(statuses.errors, []);
    });

    /**
     * A live pollStatus subscription to an open poll, which another replica then closes: committed in
     * PostgreSQL, its announcement not (yet) on this replica's bus.
     */
    async function watchThenCloseElsewhere() {
      const poll = await createOpenPoll(stack);
      const active = await activeSubscriptions(stack, 'pollStatus');
      const statuses = subscribe<{ pollStatus: { status: string; at: string } }>(stack.ws(), POLL_STATUS, { pollId: poll.id });
      await waitForActiveSubscriptions(stack, 'pollStatus', active + 1);
      const closesAt = new Date();
      await stack.prisma.poll.update({ where: { id: poll.id }, data: { status: 'CLOSED', closesAt } });
      return { poll, statuses, closesAt };
    }

    it('reports a transition it missed while the bus was disconnected, once the bus is back', async () => {
      // The other replica's announcement went out while this replica's bus was away.
      const { statuses, closesAt } = await watchThenCloseElsewhere();
      await stack.killBusSubscriber();
      const missed = await statuses.first((event) => event.pollStatus.status === 'CLOSED');
      assert.equal(missed.pollStatus.at, closesAt.toISOString());
      statuses.unsubscribe();
    });

    it('retries a gap re-read that failed until PostgreSQL answers again, then reports the transition', async () => {
      // The announcement is lost with the bus, and this replica's PostgreSQL connections fail when the bus comes back.
      const { poll, statuses, closesAt } = await watchThenCloseElsewhere();
      const failedBefore = rereadFailures(stack, poll.id);
      await refuseConnections(stack.databaseUrl, true);
      try {
        await stack.killBusSubscriber();
        // Two failed reads: the first one and at least one retry.
        await waitFor(() => rereadFailures(stack, poll.id) >= failedBefore + 2, { timeoutMs: 10_000, what: 'two failed pollStatus re-reads' });
        assert.deepEqual(statuses.events, [], 'nothing is sent while the poll cannot be read');
      } finally {
        await refuseConnections(stack.databaseUrl, false);
      }
      const missed = await statuses.first((event) => event.pollStatus.status === 'CLOSED');
      assert.equal(missed.pollStatus.at, closesAt.toISOString());
      await statuses.waitForCompletion();
      statuses.unsubscribe();
    });

    it('does not deliver a transition again when its announcement arrives after the gap re-read saw it', async () => {
      const poll = await createOpenPoll(stack);
      const later = await createPoll(stack);
      const active = await activeSubscriptions(stack, 'pollStatus');
      const client = stack.ws();
      const statuses = subscribe<{ pollStatus: { status: string; at: string } }>(client, POLL_STATUS, { pollId: poll.id });
      const laterStatuses = subscribe<{ pollStatus: { status: string } }>(client, POLL_STATUS, { pollId: later.id });
      await waitForActiveSubscriptions(stack, 'pollStatus', active + 2);
      // Another replica commits the close; this replica's bus drops before its announcement is out.
      const closesAt = new Date();
      await stack.prisma.poll.update({ where: { id: poll.id }, data: { status: 'CLOSED', closesAt } });
      await stack.killBusSubscriber();
      await statuses.first((event) => event.pollStatus.status === 'CLOSED');
      // The announcement, published once the bus is back: the client already has this transition.
      await stack.bus.publish({ type: 'poll-status', pollId: poll.id, status: 'CLOSED', at: closesAt.toISOString() });
      // One channel delivers in order: once a later announcement reached the client, the one above was handled.
      await stack.data(OPEN, { id: later.id }, ADMIN);
      await laterStatuses.first((event) => event.pollStatus.status === 'OPEN');
      assert.deepEqual(
        statuses.events.map((event) => event.pollStatus.status),
        ['CLOSED'],
      );
      statuses.unsubscribe();
      laterStatuses.unsubscribe();
    });

    const conflicts: { name: string; setup: (stack: Stack) => Promise<PollView>; mutation: string }[] = [
      { name: 'opening an OPEN poll', setup: (s) => createOpenPoll(s), mutation: OPEN },
      { name: 'closing a DRAFT poll', setup: (s) => createPoll(s), mutation: CLOSE },
      {
        name: 'reopening a CLOSED poll',
        setup: async (s) => {
          const poll = await createOpenPoll(s);
          await s.data(CLOSE, { id: poll.id }, ADMIN);
          return poll;
        },
        mutation: OPEN,
      },
    ];
    for (const { name, setup, mutation } of conflicts) {
      it(`refuses ${name} with POLL_STATE_CONFLICT`, async () => {
        const poll = await setup(stack);
        const result = await stack.request(mutation, { id: poll.id }, ADMIN);
        assert.equal(result.errors?.[0]?.extensions?.['code'], 'POLL_STATE_CONFLICT');
      });
    }

    it('answers POLL_NOT_FOUND for an unknown poll and BAD_USER_INPUT for a malformed id', async () => {
      const missing = await stack.request(OPEN, { id: '00000000-0000-4000-8000-000000000000' }, ADMIN);
      assert.equal(missing.errors?.[0]?.extensions?.['code'], 'POLL_NOT_FOUND');
      const malformed = await stack.request(CLOSE, { id: 'nope' }, ADMIN);
      assert.equal(malformed.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT');
    });
  });

  describe('identity', () => {
    it('refuses admin mutations without identity, with a bad signature, or from a voter', async () => {
      const input = { question: 'Q?', options: ['A', 'B'] };
      const none = await stack.request(CREATE, { input });
      assert.equal(none.errors?.[0]?.extensions?.['code'], 'IDENTITY_MISSING');
      const forged = await stack.request(CREATE, { input }, `${await stack.token(ADMIN)}x`);
      assert.equal(forged.errors?.[0]?.extensions?.['code'], 'IDENTITY_MISSING');
      assert.match(forged.errors?.[0]?.message ?? '', /does not verify/);
      const voter = await stack.request(CREATE, { input }, VOTER);
      assert.equal(voter.errors?.[0]?.extensions?.['code'], 'FORBIDDEN');
      const poll = await createPoll(stack);
      const voterOpen = await stack.request(OPEN, { id: poll.id }, VOTER);
      assert.equal(voterOpen.errors?.[0]?.extensions?.['code'], 'FORBIDDEN');
    });
  });

  describe('schedule', () => {
    it('opens and closes a scheduled poll on time and tells pollStatus subscribers', async () => {
      const poll = await createPoll(stack, { opensAt: inSeconds(1.2), closesAt: inSeconds(2.4) });
      const active = await activeSubscriptions(stack, 'pollStatus');
      const statuses = subscribe<{ pollStatus: { status: string; at: string } }>(stack.ws(), POLL_STATUS, { pollId: poll.id });
      await waitForActiveSubscriptions(stack, 'pollStatus', active + 1);

      const opened = await statuses.first((event) => event.pollStatus.status === 'OPEN', 5000);
      assert.equal(opened.pollStatus.status, 'OPEN');
      assert.ok(Date.parse(opened.pollStatus.at) >= Date.parse(poll.opensAt ?? ''), 'not before opensAt');
      const closed = await statuses.first((event) => event.pollStatus.status === 'CLOSED', 5000);
      assert.equal(closed.pollStatus.status, 'CLOSED');
      assert.ok(Date.parse(closed.pollStatus.at) >= Date.parse(poll.closesAt ?? ''), 'not before closesAt');
      // On time: the timer, not the 60 s safety sweep, applied both.
      assert.ok(Date.parse(closed.pollStatus.at) - Date.parse(poll.closesAt ?? '') < 2000);

      const stored = await stack.data<{ poll: PollView }>(POLL, { id: poll.id });
      assert.equal(stored.poll.status, 'CLOSED');
      const scheduled = stack.audit.events.filter((event) => event.pollId === poll.id && event.actor === 'system:scheduler');
      assert.deepEqual(
        scheduled.map((event) => event.action),
        ['poll.opened', 'poll.closed'],
      );
      statuses.unsubscribe();
    });
  });

  describe('queries', () => {
    it('reads one poll, null for an unknown id, BAD_USER_INPUT for a malformed one', async () => {
      const poll = await createPoll(stack);
      const found = await stack.data<{ poll: PollView }>(POLL, { id: poll.id.toUpperCase() });
      assert.equal(found.poll.id, poll.id);
      const missing = await stack.data<{ poll: PollView | null }>(POLL, { id: '00000000-0000-4000-8000-000000000000' });
      assert.equal(missing.poll, null);
      const malformed = await stack.request(POLL, { id: '42' });
      assert.equal(malformed.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT');
    });

    it('pages newest first with opaque cursors and filters by status', async () => {
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push((await createPoll(stack, { question: `Page ${i}?` })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      for (;;) {
        const page: { polls: { edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } =
          await stack.data(POLLS, { first: 2, after: cursor });
        pages++;
        assert.ok(page.polls.edges.length <= 2);
        seen.push(...page.polls.edges.map((edge) => edge.node.id));
        if (!page.polls.pageInfo.hasNextPage) break;
        cursor = page.polls.pageInfo.endCursor;
      }
      const total = await stack.prisma.poll.count();
      assert.equal(seen.length, total, 'every poll exactly once');
      assert.equal(new Set(seen).size, total);
      assert.equal(pages, Math.ceil(total / 2));
      // The five just created are the newest, newest first.
      assert.deepEqual(seen.slice(0, 5), [...created].reverse());

      const open = await stack.data<{ polls: { edges: { node: { status: string } }[] } }>(POLLS, { status: 'OPEN', first: 100 });
      assert.ok(open.polls.edges.every((edge) => edge.node.status === 'OPEN'));
    });

    it('refuses a bad page size and a forged cursor', async () => {
      for (const first of [0, 101, -1]) {
        const result = await stack.request(POLLS, { first });
        assert.equal(result.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT', `first=${first}`);
      }
      const forged = await stack.request(POLLS, { after: 'not-a-cursor' });
      assert.equal(forged.errors?.[0]?.extensions?.['code'], 'BAD_USER_INPUT');
    });

    it('resolves many entity representations with batched queries', async () => {
      const polls = await Promise.all(Array.from({ length: 6 }, (_, i) => createPoll(stack, { question: `Entity ${i}?` })));
      const representations = [
        ...polls.map((poll) => ({ __typename: 'Poll', id: poll.id })),
        { __typename: 'Poll', id: '00000000-0000-4000-8000-000000000000' },
        ...polls.map((poll) => ({ __typename: 'PollOption', id: poll.options[1]?.id })),
      ];
      const before = stack.queries.length;
      const result = await stack.data<{ _entities: ({ id: string; question?: string; label?: string; poll?: { question: string } } | null)[] }>(
        `query ($representations: [_Any!]!) { _entities(representations: $representations) {
          ... on Poll { id question } ... on PollOption { id label poll { question } } } }`,
        { representations },
      );
      // The poll scheduler shares the Prisma client and may wake meanwhile (earlier tests left
      // scheduled polls due): its sweep statements are not entity reads.
      const issued = stack.queries.slice(before).filter((sql) => !/SELECT LEAST\(|UPDATE polls SET status/.test(sql));
      assert.equal(result._entities.length, 13);
      assert.equal(result._entities[0]?.question, 'Entity 0?');
      assert.equal(result._entities[6], null, 'an unknown poll resolves to null');
      assert.equal(result._entities[7]?.label, 'Dogs');
      assert.equal(result._entities[12]?.poll?.question, 'Entity 5?');
      // Polls (+ their options) once, options once, their polls once: never one query per entity.
      assert.ok(issued.length <= 6, `expected batched queries, got ${issued.length}:\n${issued.join('\n')}`);
    });
  });
});
