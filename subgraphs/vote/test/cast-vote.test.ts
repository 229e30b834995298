// castVote end to end against the real subgraph: what one accepted vote writes (receipt hash,
// stream entry, latest-vote pointer, bus message, audit event, metric), every refusal writing
// nothing, receipt visibility, and the voteReceipt subscription from PENDING to a final status.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseBusMessage, type ReceiptUpdate } from '@votemesh/common/contracts/bus';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { parseVoteEntry } from '@votemesh/common/contracts/vote-entry';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { Redis } from 'ioredis';
import {
  activeSubscriptions,
  ADMIN,
  createOpenPoll,
  createPoll,
  OTHER_VOTER,
  startStack,
  subscribe,
  VOTER,
  waitForActiveSubscriptions,
  type PollView,
  type Stack,
} from './support.ts';

const CAST = `mutation ($pollId: ID!, $optionId: ID!) {
  castVote(pollId: $pollId, optionId: $optionId) { id status reason castAt updatedAt poll { id } option { id label } } }`;
const RECEIPT = `query ($id: ID!) { voteReceipt(id: $id) { id status reason option { label } poll { question } } }`;
const MY_VOTE = `query ($id: ID!) { poll(id: $id) { id myVote { id status option { label } } } }`;
const WATCH_RECEIPT = `subscription ($id: ID!) { voteReceipt(id: $id) { id status reason updatedAt option { label } } }`;

interface Receipt {
  id: string;
  status: string;
  reason: string | null;
  castAt: string;
  updatedAt: string;
  poll: { id: string };
  option: { id: string; label: string };
}

describe('vote subgraph: castVote', () => {
  let stack: Stack;
  let poll: PollView;
  let keys: ReturnType<typeof createRedisKeys>;
  before(async () => {
    stack = await startStack();
    keys = createRedisKeys(stack.prefix);
    poll = await createOpenPoll(stack, { question: 'Tabs or spaces?', options: ['Tabs', 'Spaces'] });
  });
  after(async () => {
    await stack?.[Symbol.asyncDispose]();
  });

  async function cast(pollId: string, optionId: string, as = VOTER): Promise<Receipt> {
    return (await stack.data<{ castVote: Receipt }>(CAST, { pollId, optionId }, as)).castVote;
  }

  describe('an accepted vote', () => {
    it('writes the receipt, the stream entry and the latest-vote pointer, publishes and audits', async () => {
      const option = poll.options[1];
      assert.ok(option);
      const listener = new Redis('redis://127.0.0.1:6379');
      const published: ReceiptUpdate[] = [];
      listener.on('message', (_channel: string, text: string) => {
        const message = parseBusMessage(text);
        if (message.type === 'receipt') published.push(message);
      });
      await listener.subscribe(keys.channel('receipt'));
      try {
        const lengthBefore = await stack.redis.xlen(keys.votes);
        const receipt = await cast(poll.id, option.id);
        assert.equal(receipt.status, 'PENDING');
        assert.equal(receipt.reason, null);
        assert.equal(receipt.poll.id, poll.id);
        assert.equal(receipt.option.label, 'Spaces');

        const hash = await stack.redis.hgetall(keys.receipt(receipt.id));
        assert.deepEqual(hash, {
          pollId: poll.id,
          optionId: option.id,
          voterId: VOTER.subject,
          status: 'PENDING',
          castAt: receipt.castAt,
          updatedAt: receipt.castAt,
        });
        const ttl = await stack.redis.ttl(keys.receipt(receipt.id));
        assert.ok(ttl > 3500 && ttl <= 3600, `receipt TTL ${ttl}`);

        assert.equal(await stack.redis.xlen(keys.votes), lengthBefore + 1);
        const [[, fields] = ['', []]] = await stack.redis.xrevrange(keys.votes, '+', '-', 'COUNT', 1);
        // The current layout: one `vote` field holding the JSON object (docs/contracts/vote-stream.md).
        assert.equal(fields.length, 2);
        assert.equal(fields[0], 'vote');
        const entry = parseVoteEntry(fields);
        assert.deepEqual(
          { receiptId: entry.receiptId, pollId: entry.pollId, optionId: entry.optionId, voterId: entry.voterId, castAt: entry.castAt },
          { receiptId: receipt.id, pollId: poll.id, optionId: option.id, voterId: VOTER.subject, castAt: receipt.castAt },
        );

        assert.equal(await stack.redis.hget(`${stack.prefix}myvote:${poll.id}`, VOTER.subject), receipt.id);
        const message = await waitFor(() => published.find((candidate) => candidate.receiptId === receipt.id), { what: 'the PENDING receipt message' });
        assert.equal(message.status, 'PENDING');
        assert.equal(message.pollId, poll.id);

        const audited = stack.audit.events.find((event) => event.subjectId === receipt.id);
        assert.equal(audited?.action, 'vote.accepted');
        assert.equal(audited?.actor, VOTER.subject);
        assert.deepEqual(audited?.data, { optionId: option.id });
      } finally {
        listener.disconnect();
      }
    });

    it('shows the caller their latest vote as myVote, and only theirs', async () => {
      const [first, second] = poll.options;
      assert.ok(first && second);
      await cast(poll.id, first.id);
      const latest = await cast(poll.id, second.id);
      const mine = await stack.data<{ poll: { myVote: { id: string; status: string; option: { label: string } } | null } }>(MY_VOTE, { id: poll.id }, VOTER);
      assert.equal(mine.poll.myVote?.id, latest.id);
      assert.equal(mine.poll.myVote?.option.label, second.label);
      const theirs = await stack.data<{ poll: { myVote: unknown } }>(MY_VOTE, { id: poll.id }, OTHER_VOTER);
      assert.equal(theirs.poll.myVote, null);
      const anonymous = await stack.request(MY_VOTE, { id: poll.id });
      assert.equal(anonymous.errors?.[0]?.extensions?.['code'], 'IDENTITY_MISSING');
    });

    it('lets only the voter (or an admin) read a receipt', async () => {
      const receipt = await cast(poll.id, poll.options[0]?.id ?? '');
      const own = await stack.data<{ voteReceipt: { id: string; status: string; poll: { question: string } } }>(RECEIPT, { id: receipt.id }, VOTER);
      assert.equal(own.voteReceipt.poll.question, 'Tabs or spaces?');
      const admin = await stack.data<{ voteReceipt: { id: string } }>(RECEIPT, { id: receipt.id }, ADMIN);
      assert.equal(admin.voteReceipt.id, receipt.id);
      const other = await stack.request(RECEIPT, { id: receipt.id }, OTHER_VOTER);
      assert.equal(other.errors?.[0]?.extensions?.['code'], 'RECEIPT_NOT_FOUND');
      const unknown = await stack.request(RECEIPT, { id: '00000000-0000-4000-8000-000000000000' }, VOTER);
      assert.equal(unknown.errors?.[0]?.extensions?.['code'], 'RECEIPT_NOT_FOUND');
      assert.equal(
        other.errors?.[0]?.message.replace(receipt.id, 'X'),
        unknown.errors?.[0]?.message.replace('00000000-0000-4000-8000-000000000000', 'X'),
        'same answer: existence is not leaked',
      );
    });
  });

  describe('refusals write nothing', () => {
    const cases: {
      name: string;
      code: string;
      args: (s: Stack, open: PollView) => Promise<{ pollId: string; optionId: string; as?: typeof VOTER | string | null }>;
    }[] = [
      { name: 'no identity', code: 'IDENTITY_MISSING', args: async (_s, open) => ({ pollId: open.id, optionId: open.options[0]?.id ?? '', as: null }) },
      {
        name: 'a forged identity',
        code: 'IDENTITY_MISSING',
        args: async (s, open) => ({ pollId: open.id, optionId: open.options[0]?.id ?? '', as: `${await s.token(VOTER)}x` }),
      },
      { name: 'a malformed poll id', code: 'BAD_USER_INPUT', args: async (_s, open) => ({ pollId: 'poll-1', optionId: open.options[0]?.id ?? '' }) },
      { name: 'a malformed option id', code: 'BAD_USER_INPUT', args: async (_s, open) => ({ pollId: open.id, optionId: '1' }) },
      {
        name: 'an unknown poll',
        code: 'POLL_NOT_FOUND',
        args: async (_s, open) => ({ pollId: '00000000-0000-4000-8000-000000000000', optionId: open.options[0]?.id ?? '' }),
      },
      {
        name: 'a DRAFT poll',
        code: 'POLL_NOT_OPEN',
        args: async (s) => {
          const draft = await createPoll(s);
          return { pollId: draft.id, optionId: draft.options[0]?.id ?? '' };
        },
      },
      {
        name: 'a CLOSED poll',
        code: 'POLL_NOT_OPEN',
        args: async (s) => {
          const closed = await createOpenPoll(s);
          await s.data('mutation ($id: ID!) { closePoll(id: $id) { id } }', { id: closed.id }, ADMIN);
          return { pollId: closed.id, optionId: closed.options[0]?.id ?? '' };
        },
      },
      {
        name: 'an option of another poll',
        code: 'OPTION_NOT_IN_POLL',
        args: async (s, open) => {
          const other = await createPoll(s);
          return { pollId: open.id, optionId: other.options[0]?.id ?? '' };
        },
      },
    ];
    for (const { name, code, args } of cases) {
      it(`refuses ${name} with ${code}`, async () => {
        const { pollId, optionId, as } = await args(stack, poll);
        const lengthBefore = await stack.redis.xlen(keys.votes);
        const receiptsBefore = (await stack.redis.keys(`${stack.prefix}receipt:*`)).length;
        const acceptedBefore = stack.audit.events.filter((event) => event.action === 'vote.accepted').length;
        const result = await stack.request(CAST, { pollId, optionId }, as === null ? undefined : (as ?? VOTER));
        assert.equal(result.errors?.[0]?.extensions?.['code'], code, JSON.stringify(result.errors));
        assert.equal(result.data, null);
        assert.equal(await stack.redis.xlen(keys.votes), lengthBefore, 'no stream entry');
        assert.equal((await stack.redis.keys(`${stack.prefix}receipt:*`)).length, receiptsBefore, 'no receipt');
        assert.equal(stack.audit.events.filter((event) => event.action === 'vote.accepted').length, acceptedBefore, 'no audit event');
      });
    }

    // The pure window check (OPEN but past closesAt) is covered in vote-rules.test.ts; here the
    // whole path: a changed closesAt reaches castVote through the poll-status cache invalidation.
    it('refuses votes once closesAt has passed', async () => {
      const closing = await createOpenPoll(stack, { closesAt: new Date(Date.now() + 60_000).toISOString() });
      // Move closesAt into the past behind the scheduler's back, and drop the cached copy.
      await stack.prisma.poll.update({ where: { id: closing.id }, data: { closesAt: new Date(Date.now() - 1000) } });
      await stack.bus.publish({ type: 'poll-status', pollId: closing.id, status: 'OPEN', at: new Date().toISOString() });
      await waitFor(
        async () => {
          const result = await stack.request(CAST, { pollId: closing.id, optionId: closing.options[0]?.id }, VOTER);
          return result.errors?.[0]?.extensions?.['code'] === 'POLL_NOT_OPEN';
        },
        { what: 'castVote to refuse a poll past closesAt' },
      );
    });

    it('counts accepted and rejected votes by reason in /metrics', async () => {
      const text = await (await fetch(`${stack.vote.url}/metrics`)).text();
      assert.match(text, /votemesh_votes_total\{outcome="accepted",reason="none",service="vote-test"\} [1-9]/);
      assert.match(text, /votemesh_votes_total\{outcome="rejected",reason="POLL_NOT_OPEN",service="vote-test"\} [1-9]/);
      assert.match(text, /votemesh_votes_total\{outcome="rejected",reason="IDENTITY_MISSING",service="vote-test"\} [1-9]/);
    });
  });

  describe('voteReceipt subscription', () => {
    it('emits PENDING at once, then COUNTED from the bus, then completes', async () => {
      const receipt = await cast(poll.id, poll.options[0]?.id ?? '');
      const active = await activeSubscriptions(stack, 'voteReceipt');
      const events = subscribe<{ voteReceipt: { id: string; status: string; reason: string | null; option: { label: string } } }>(
        stack.ws(VOTER),
        WATCH_RECEIPT,
        { id: receipt.id },
      );
      const first = await events.nth(1);
      assert.equal(first.voteReceipt.status, 'PENDING');
      assert.equal(first.voteReceipt.option.label, 'Tabs');
      await waitForActiveSubscriptions(stack, 'voteReceipt', active + 1);

      // What the worker does after its transaction commits: the hash, then one message for the batch.
      const updatedAt = new Date().toISOString();
      await stack.redis.hset(keys.receipt(receipt.id), { status: 'COUNTED', updatedAt });
      await stack.bus.publish({
        type: 'receipts',
        updatedAt,
        receipts: [
          { receiptId: randomUUID(), pollId: poll.id, status: 'COUNTED' },
          { receiptId: receipt.id, pollId: poll.id, status: 'COUNTED' },
        ],
      });

      const second = await events.nth(2);
      assert.equal(second.voteReceipt.status, 'COUNTED');
      await events.waitForCompletion();
      assert.equal(events.events.length, 2);
      await waitFor(async () => (await activeSubscriptions(stack, 'voteReceipt')) === active, { what: 'the subscription to be released' });
    });

    it('emits a final receipt once and completes', async () => {
      const receipt = await cast(poll.id, poll.options[0]?.id ?? '');
      await stack.redis.hset(keys.receipt(receipt.id), { status: 'REJECTED', reason: 'poll closed', updatedAt: new Date().toISOString() });
      const events = subscribe<{ voteReceipt: { status: string; reason: string | null } }>(stack.ws(VOTER), WATCH_RECEIPT, { id: receipt.id });
      await events.waitForCompletion();
      assert.deepEqual(
        events.events.map((event) => [event.voteReceipt.status, event.voteReceipt.reason]),
        [['REJECTED', 'poll closed']],
      );
    });

    it('reads the receipt again after the bus lost its connection, so a final status published meanwhile still arrives', async () => {
      const receipt = await cast(poll.id, poll.options[0]?.id ?? '');
      const active = await activeSubscriptions(stack, 'voteReceipt');
      const events = subscribe<{ voteReceipt: { status: string } }>(stack.ws(VOTER), WATCH_RECEIPT, { id: receipt.id });
      assert.equal((await events.nth(1)).voteReceipt.status, 'PENDING');
      await waitForActiveSubscriptions(stack, 'voteReceipt', active + 1);
      // The worker's write whose `receipts` message went out while this replica's bus was away.
      await stack.redis.hset(keys.receipt(receipt.id), { status: 'COUNTED', updatedAt: new Date().toISOString() });
      await stack.killBusSubscriber();
      assert.equal((await events.nth(2)).voteReceipt.status, 'COUNTED');
      await events.waitForCompletion();
    });

    it("refuses another voter's receipt and a connection without identity", async () => {
      const receipt = await cast(poll.id, poll.options[0]?.id ?? '');
      const other = subscribe(stack.ws(OTHER_VOTER), WATCH_RECEIPT, { id: receipt.id });
      const errors = (await other.waitForError()) as { extensions?: { code?: string } }[];
      assert.equal(errors[0]?.extensions?.code, 'RECEIPT_NOT_FOUND');
      const anonymous = subscribe(stack.ws(), WATCH_RECEIPT, { id: receipt.id });
      const anonymousErrors = (await anonymous.waitForError()) as { extensions?: { code?: string } }[];
      assert.equal(anonymousErrors[0]?.extensions?.code, 'IDENTITY_MISSING');
    });

    it('closes a connection whose forwarded identity does not verify with 4403', async () => {
      const forged = subscribe(stack.ws(`${await stack.token(VOTER)}x`), WATCH_RECEIPT, { id: '00000000-0000-4000-8000-000000000000' });
      const error = (await forged.waitForError()) as { code?: number };
      assert.equal(error.code, 4403);
    });
  });

  describe('probes', () => {
    it('reports ready, with PostgreSQL and Redis as dependencies that answer', async () => {
      const response = await fetch(`${stack.vote.url}/readyz`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { status: string; checks: unknown[]; dependencies: { name: string; ok: boolean }[] };
      assert.equal(body.status, 'ready');
      assert.deepEqual(body.checks, []);
      assert.deepEqual(
        body.dependencies.map((dependency) => [dependency.name, dependency.ok]),
        [
          ['postgres', true],
          ['redis', true],
        ],
      );
      assert.equal((await fetch(`${stack.vote.url}/healthz`)).status, 200);
    });
  });
});
