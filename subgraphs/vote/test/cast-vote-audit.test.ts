// castVote's `vote.accepted` audit event with the real audit client and its Redis spool: the event
// is written in the vote's own MULTI, so it is durable when castVote answers even while the
// client's own spool writes cannot get through; a spool write the MULTI could not make does not
// fail the vote, and the client then writes the event itself.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAuditClient, type AuditClient } from '@votemesh/common/grpc/audit-client';
import { auditSpoolKey, createRedisAuditSpool, parseSpoolMember, type AuditSpool } from '@votemesh/common/grpc/audit-spool';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createOpenPoll, startStack, VOTER, type PollView, type Stack } from './support.ts';
import { createHold } from '@votemesh/common/testing/hold';

const CAST = `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }`;

describe('castVote spools its vote.accepted audit event with the vote', () => {
  let stack: Stack;
  let poll: PollView;
  let client: AuditClient;
  let real: AuditSpool;
  /** The client's own spool writes (ZADD) wait while this is held. */
  const ownSaveHold = createHold();
  let ownSaves = 0;

  before(async () => {
    stack = await startStack({
      audit: (redis, prefix) => {
        real = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'vote'));
        const spool: AuditSpool = {
          ...real,
          async save(members) {
            ownSaves += 1;
            await ownSaveHold.passage();
            await real.save(members);
          },
        };
        // The audit service is away (nothing listens on port 1): only the spool makes events durable.
        client = createAuditClient({
          address: '127.0.0.1:1',
          logger: createLogger({ service: 'vote-audit-test', level: 'fatal' }),
          source: 'vote',
          spool,
          closeTimeoutMs: 50,
          spoolAdoptEveryMs: 60_000,
        });
        return client;
      },
    });
    poll = await createOpenPoll(stack, { question: 'Spool it?', options: ['Yes', 'No'] });
  });
  after(async () => {
    await client?.close();
    await stack?.[Symbol.asyncDispose]();
  });

  async function spooledFor(receiptId: string) {
    const members = await real.load(0, 1000, Date.now());
    return members.map(parseSpoolMember).filter((message) => message.subject_id === receiptId);
  }

  async function cast(): Promise<string> {
    const option = poll.options[0];
    assert.ok(option);
    return (await stack.data<{ castVote: { id: string } }>(CAST, { pollId: poll.id, optionId: option.id }, VOTER)).castVote.id;
  }

  it('is in the spool when castVote answers, though the client could not write it itself', async () => {
    const release = ownSaveHold.hold();
    try {
      const savesBefore = ownSaves;
      const bufferedBefore = client.stats().buffered;
      const receiptId = await cast();
      const spooled = await spooledFor(receiptId);
      assert.deepEqual(
        spooled.map((message) => [message.action, message.actor]),
        [['vote.accepted', VOTER.subject]],
      );
      assert.equal(client.stats().buffered, bufferedBefore + 1, 'held, to be sent once the audit service is back');
      assert.equal(ownSaves, savesBefore, 'the client did not write it again');
      // Durable already: nothing to wait for.
      await client.persisted([spooled[0]?.event_id ?? '']);
    } finally {
      release();
    }
  });

  it('does not fail the vote when the MULTI could not spool the event: the client writes it itself', async () => {
    // A key of the wrong type makes the MULTI's ZADD fail (WRONGTYPE) while its other writes succeed.
    const release = ownSaveHold.hold();
    const spoolKey = real.key;
    const aside = `${spoolKey}:aside`;
    const hadSpool = (await stack.redis.exists(spoolKey)) === 1;
    if (hadSpool) await stack.redis.rename(spoolKey, aside);
    await stack.redis.set(spoolKey, 'not a sorted set');
    let receiptId: string;
    try {
      const savesBefore = ownSaves;
      receiptId = await cast();
      assert.equal(await stack.redis.hget(`${stack.prefix}receipt:${receiptId}`, 'status'), 'PENDING', 'the vote is in');
      await waitFor(() => ownSaves > savesBefore, { what: 'the client writing the event to its spool itself' });
    } finally {
      // The spool is back before the client's held write goes on.
      await stack.redis.del(spoolKey);
      if (hadSpool) await stack.redis.rename(aside, spoolKey);
      release();
    }
    await client.persisted();
    assert.equal((await spooledFor(receiptId)).length, 1);
  });
});
