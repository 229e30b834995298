import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MAX_RECEIPT_REASON_LENGTH, parseBusMessage, type BusMessage } from '@votemesh/common/contracts/bus';
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
  await publishBatch(h.redis, h.keys, stream(), { receipts, ackIds: [], tallies: [], updatedAt, receiptTtlSeconds: 600 });
}

describe('receipt writes', () => {
  it('updates an existing hash, recreates a missing one complete, and publishes parseable messages', async () => {
    const subscriber = new Redis(REDIS_URL);
    const messages: BusMessage[] = [];
    subscriber.on('message', (_channel: string, text: string) => messages.push(parseBusMessage(text)));
    await subscriber.subscribe(h.keys.channel('receipts'));
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

      // One message for the batch; no poll id, no item: the malformed receipt is only written.
      await waitFor(() => messages.length >= 1, { what: 'the receipts message' });
      assert.deepEqual(messages, [
        {
          type: 'receipts',
          updatedAt,
          receipts: [
            { receiptId: existing, pollId, status: 'COUNTED' },
            { receiptId: missing, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote' },
            { receiptId: salvaged, pollId, status: 'REJECTED', reason },
          ],
        },
      ]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('never moves a status backwards, and announces only the changes it made', async () => {
    const pollId = randomUUID();
    const receiptId = randomUUID();
    const vote = { optionId: randomUUID(), voterId: 'v1', castAt: '2026-03-01T12:00:00.000Z' };
    await publish([{ receiptId, pollId, status: 'SUPERSEDED', reason: 'A newer vote by the same voter was already counted', vote }]);
    const messages = await collectReceipts(async () => {
      await publish([{ receiptId, pollId, status: 'COUNTED', vote }]);
      // Published on the same connection after the first: once its message is here, the first had its turn.
      await publish([{ receiptId: randomUUID(), pollId, status: 'COUNTED', vote }]);
    }, 1);
    const hash = await h.receipt(receiptId);
    assert.equal(hash['status'], 'SUPERSEDED');
    assert.equal(hash['reason'], 'A newer vote by the same voter was already counted');
    assert.equal(messages.length, 1);
    assert.notEqual(messages[0]?.type === 'receipts' && messages[0].receipts[0]?.receiptId, receiptId, 'no message for the refused change');
  });

  it('leaves a status that does not move forward as it is and unannounced: a replayed COUNTED, SUPERSEDED after REJECTED', async () => {
    const pollId = randomUUID();
    const vote = { optionId: randomUUID(), voterId: 'v1', castAt: '2026-03-01T12:00:00.000Z' };
    const counted = randomUUID();
    const rejected = randomUUID();
    await publish([
      { receiptId: counted, pollId, status: 'COUNTED', vote },
      { receiptId: rejected, pollId, status: 'REJECTED', reason: 'POLL_NOT_OPEN: the poll closed before this vote was cast', vote },
    ]);
    const sentinel = randomUUID();
    const later = '2026-03-01T12:05:00.000Z';
    const messages = await collectReceipts(async () => {
      // A replay of the same batch, and a settle that would overwrite a final status.
      const replay: ReceiptWrite[] = [
        { receiptId: counted, pollId, status: 'COUNTED', vote },
        { receiptId: rejected, pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote', vote },
      ];
      await publishBatch(h.redis, h.keys, stream(), { receipts: replay, ackIds: [], tallies: [], updatedAt: later, receiptTtlSeconds: 600 });
      // Published on the same connection after the replay: once its message is here, the replay had its turn.
      await publish([{ receiptId: sentinel, pollId, status: 'COUNTED', vote }]);
    }, 1);
    assert.deepEqual({ status: (await h.receipt(counted))['status'], updatedAt: (await h.receipt(counted))['updatedAt'] }, { status: 'COUNTED', updatedAt });
    const stillRejected = await h.receipt(rejected);
    assert.deepEqual(
      { status: stillRejected['status'], reason: stillRejected['reason'], updatedAt: stillRejected['updatedAt'] },
      { status: 'REJECTED', reason: 'POLL_NOT_OPEN: the poll closed before this vote was cast', updatedAt },
    );
    assert.deepEqual(
      messages.flatMap((message) => (message.type === 'receipts' ? message.receipts.map((item) => item.receiptId) : [])),
      [sentinel],
    );
  });

  it('sends at most 500 receipts per message, every one of them, in order', async () => {
    const pollId = randomUUID();
    const receipts = Array.from({ length: 1201 }, (): ReceiptWrite => ({ receiptId: randomUUID(), pollId, status: 'COUNTED' }));
    const messages = await collectReceipts(() => publish(receipts), 3);
    assert.deepEqual(
      messages.map((message) => (message.type === 'receipts' ? message.receipts.length : 0)),
      [500, 500, 201],
    );
    assert.deepEqual(
      messages.flatMap((message) => (message.type === 'receipts' ? message.receipts.map((item) => item.receiptId) : [])),
      receipts.map((receipt) => receipt.receiptId),
    );
  });

  it('clips a reason longer than a receipt message may carry, in the message and the hash alike', async () => {
    const pollId = randomUUID();
    const receiptId = randomUUID();
    // An emoji (a surrogate pair) straddles the cut: the clipped text must stay well-formed.
    const reason = `${'x'.repeat(MAX_RECEIPT_REASON_LENGTH - 2)}😀${'y'.repeat(2000)}`;
    const [message] = await collectReceipts(() => publish([{ receiptId, pollId, status: 'REJECTED', reason }]), 1);
    const clipped = message?.type === 'receipts' ? message.receipts[0]?.reason : undefined;
    assert.ok(clipped !== undefined && clipped.length <= MAX_RECEIPT_REASON_LENGTH && clipped.isWellFormed());
    assert.ok(clipped.startsWith('x'.repeat(MAX_RECEIPT_REASON_LENGTH - 2)) && clipped.endsWith('…'));
    assert.equal((await h.receipt(receiptId))['reason'], clipped);
  });
});

/** The `receipts` messages published while `act` runs, once `count` of them have arrived. */
async function collectReceipts(act: () => Promise<void>, count: number): Promise<BusMessage[]> {
  const subscriber = new Redis(REDIS_URL);
  const messages: BusMessage[] = [];
  subscriber.on('message', (_channel: string, text: string) => messages.push(parseBusMessage(text)));
  try {
    await subscriber.subscribe(h.keys.channel('receipts'));
    await act();
    await waitFor(() => messages.length >= count, { what: `${count} receipts message(s)` });
    return messages;
  } finally {
    subscriber.disconnect();
  }
}
