import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { parseBusMessage, type BusMessage } from '@votemesh/common/contracts/bus';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { publishBatch, type ReceiptWrite } from '../src/receipts.ts';
import { createHarness, REDIS_URL, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

const updatedAt = '2026-03-01T12:00:01.000Z';
const stream = (): { key: string; group: string } => ({ key: h.keys.votes, group: h.keys.tallyGroup });

async function publish(receipts: ReceiptWrite[]): Promise<void> {
  const errors = await publishBatch(h.redis, h.keys, stream(), { receipts, ackIds: [], tallies: [], updatedAt, receiptTtlSeconds: 600 });
  assert.deepEqual(errors, []);
}

describe('receipt writes', () => {
  it('updates an existing hash, recreates a missing one complete, and publishes parseable messages', async () => {
    const subscriber = new Redis(REDIS_URL);
    const messages: BusMessage[] = [];
    subscriber.on('message', (_channel: string, text: string) => messages.push(parseBusMessage(text)));
    await subscriber.subscribe(h.keys.channel('receipt'));
    try {
      const pollId = randomUUID();
      const vote = { optionId: randomUUID(), voterId: 'v "quoted" \\ voter', castAt: '2026-03-01T12:00:00.000Z' };
      const existing = randomUUID();
      // As castVote writes it.
      await h.redis.hset(h.keys.receipt(existing), {
        pollId,
        optionId: vote.optionId,
        voterId: vote.voterId,
        status: 'PENDING',
        castAt: vote.castAt,
        updatedAt: vote.castAt,
      });
      const missing = randomUUID();
      const malformed = randomUUID();
      const salvaged = randomUUID();
      const reason = 'Malformed vote: field "optionId" must be a non-empty string \\ \n done';
      await publish([
        { receiptId: existing, pollId, status: 'COUNTED', vote },
        { receiptId: missing, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote', vote },
        { receiptId: malformed, status: 'REJECTED', reason },
        { receiptId: salvaged, pollId, status: 'REJECTED', reason },
      ]);

      assert.deepEqual(await h.receipt(existing), {
        pollId,
        optionId: vote.optionId,
        voterId: vote.voterId,
        status: 'COUNTED',
        castAt: vote.castAt,
        updatedAt,
      });
      assert.deepEqual(await h.receipt(missing), {
        receiptId: missing,
        pollId,
        optionId: vote.optionId,
        voterId: vote.voterId,
        status: 'SUPERSEDED',
        reason: 'Replaced by a newer vote',
        castAt: vote.castAt,
        updatedAt,
      });
      assert.deepEqual(await h.receipt(malformed), { receiptId: malformed, status: 'REJECTED', reason, updatedAt });
      const ttl = await h.redis.ttl(h.keys.receipt(missing));
      assert.ok(ttl > 0 && ttl <= 600);

      // No poll id, no message: the malformed receipt is only written.
      await waitFor(() => messages.length >= 3, { what: 'three receipt messages' });
      assert.deepEqual(messages, [
        { type: 'receipt', receiptId: existing, pollId, status: 'COUNTED', updatedAt },
        { type: 'receipt', receiptId: missing, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote', updatedAt },
        { type: 'receipt', receiptId: salvaged, pollId, status: 'REJECTED', reason, updatedAt },
      ]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('never moves a status backwards', async () => {
    const pollId = randomUUID();
    const receiptId = randomUUID();
    const vote = { optionId: randomUUID(), voterId: 'v1', castAt: '2026-03-01T12:00:00.000Z' };
    await publish([{ receiptId, pollId, status: 'SUPERSEDED', reason: 'A newer vote by the same voter was already counted', vote }]);
    await publish([{ receiptId, pollId, status: 'COUNTED', vote }]);
    const hash = await h.receipt(receiptId);
    assert.equal(hash['status'], 'SUPERSEDED');
    assert.equal(hash['reason'], 'A newer vote by the same voter was already counted');
  });
});
