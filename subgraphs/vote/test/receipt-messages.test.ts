// The `receipts` bus message (one per worker batch) as the vote subgraph reads it: what
// parseBusMessage accepts, what it refuses and how it names the field, and the single `receipt`
// message it still reads during a rolling upgrade.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeBusMessage, MAX_RECEIPTS_PER_MESSAGE, parseBusMessage, receiptUpdatesOf, type ReceiptsUpdate } from '@votemesh/common/contracts/bus';

const updatedAt = '2026-03-01T12:00:01.000Z';

function valid(): ReceiptsUpdate {
  const pollId = randomUUID();
  return {
    type: 'receipts',
    updatedAt,
    receipts: [
      { receiptId: randomUUID(), pollId, status: 'COUNTED' },
      { receiptId: randomUUID(), pollId, status: 'SUPERSEDED', reason: 'Replaced by a newer vote' },
      { receiptId: randomUUID(), pollId, status: 'REJECTED', reason: 'Malformed vote: field "optionId" \\ "quoted"\n' },
    ],
  };
}

describe('the receipts bus message', () => {
  it('round-trips through encode and parse', () => {
    const message = valid();
    assert.deepEqual(parseBusMessage(encodeBusMessage(message)), message);
  });

  it('reads ids in any case as lowercase, and an empty reason as none', () => {
    const receiptId = randomUUID();
    const pollId = randomUUID();
    const text = JSON.stringify({
      type: 'receipts',
      updatedAt,
      receipts: [{ receiptId: receiptId.toUpperCase(), pollId: pollId.toUpperCase(), status: 'COUNTED', reason: '' }],
    });
    assert.deepEqual(parseBusMessage(text), { type: 'receipts', updatedAt, receipts: [{ receiptId, pollId, status: 'COUNTED' }] });
  });

  it('stands for one receipt message per change, each with the shared time', () => {
    const message = valid();
    assert.deepEqual(
      receiptUpdatesOf(message),
      message.receipts.map((change) => ({ type: 'receipt', ...change, updatedAt })),
    );
  });

  it('still reads the single receipt message (castVote and older workers publish it)', () => {
    const single = { type: 'receipt', receiptId: randomUUID(), pollId: randomUUID(), status: 'PENDING', updatedAt } as const;
    assert.deepEqual(parseBusMessage(JSON.stringify(single)), single);
    assert.throws(() => parseBusMessage(JSON.stringify({ ...single, status: 'LOST' })), /bus message: field "status" must be one of/);
  });

  const item = (message: Record<string, unknown>, index = 1): Record<string, unknown> => (message['receipts'] as Record<string, unknown>[])[index] ?? {};
  const refused: [string, (message: Record<string, unknown>) => void, RegExp][] = [
    ['no receipts', (m) => void (m['receipts'] = []), /bus message: field "receipts" must be a non-empty array/],
    ['receipts not an array', (m) => void (m['receipts'] = { 0: item(m) }), /field "receipts" must be a non-empty array/],
    ['a missing receipts field', (m) => void delete m['receipts'], /field "receipts" must be a non-empty array/],
    [
      'more receipts than a message may hold',
      (m) => void (m['receipts'] = Array.from({ length: MAX_RECEIPTS_PER_MESSAGE + 1 }, () => item(m))),
      /field "receipts" must hold at most 5000 receipts/,
    ],
    ['a receipt not an object', (m) => void (m['receipts'] = [item(m), 'x']), /receipts\[1\]: field "\(root\)" must be an object/],
    ['a bad receipt id', (m) => void (item(m)['receiptId'] = 'receipt-1'), /receipts\[1\]: field "receiptId" must be a UUID/],
    ['a missing poll id', (m) => void delete item(m)['pollId'], /receipts\[1\]: field "pollId" must be a non-empty string/],
    ['a bad poll id', (m) => void (item(m)['pollId'] = 42), /receipts\[1\]: field "pollId" must be a non-empty string/],
    ['an unknown status', (m) => void (item(m)['status'] = 'LOST'), /receipts\[1\]: field "status" must be one of PENDING, COUNTED, SUPERSEDED, REJECTED/],
    ['a reason that is not text', (m) => void (item(m)['reason'] = 7), /receipts\[1\]: field "reason" must be a non-empty string/],
    ['a reason past 1024 characters', (m) => void (item(m)['reason'] = 'r'.repeat(1025)), /receipts\[1\]: field "reason" must be at most 1024 characters/],
    ['a NUL in a reason', (m) => void (item(m)['reason'] = 'a\u0000b'), /receipts\[1\]: field "reason" must not contain NUL/],
    ['a lone surrogate in a reason', (m) => void (item(m)['reason'] = 'a\ud83d'), /receipts\[1\]: field "reason" must be well-formed Unicode/],
    ['a missing time', (m) => void delete m['updatedAt'], /bus message: field "updatedAt" must be a non-empty string/],
    ['a bad time', (m) => void (m['updatedAt'] = 'yesterday'), /bus message: field "updatedAt" must be an ISO-8601 time/],
  ];
  for (const [name, spoil, reason] of refused) {
    it(`refuses ${name}, naming the field`, () => {
      const message: Record<string, unknown> = JSON.parse(encodeBusMessage(valid()));
      spoil(message);
      assert.throws(() => parseBusMessage(JSON.stringify(message)), reason);
    });
  }
});
