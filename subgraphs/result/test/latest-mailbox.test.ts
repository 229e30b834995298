import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLatestMailbox } from '../src/latest-mailbox.ts';

describe('latest mailbox', () => {
  it('hands a waiting consumer the next state', async () => {
    const mailbox = createLatestMailbox<{ version: number }>(() => {});
    const next = mailbox.next();
    mailbox.deliver({ version: 1 });
    assert.deepEqual(await next, { value: { version: 1 }, done: false });
  });

  it('keeps only the newest undelivered state for a slow consumer', async () => {
    const mailbox = createLatestMailbox<{ version: number }>(() => {});
    assert.equal(mailbox.deliver({ version: 1 }), true);
    assert.equal(mailbox.deliver({ version: 3 }), true);
    assert.equal(mailbox.deliver({ version: 2 }), false, 'older than the held state');
    assert.deepEqual(await mailbox.next(), { value: { version: 3 }, done: false });
    assert.equal(mailbox.deliver({ version: 3 }), false, 'already received');
  });

  it('ends on return(), once, telling its owner', async () => {
    let closes = 0;
    const mailbox = createLatestMailbox<{ version: number }>(() => closes++);
    const waiting = mailbox.next();
    await mailbox.return?.();
    await mailbox.return?.();
    mailbox.end();
    assert.deepEqual(await waiting, { value: undefined, done: true });
    assert.deepEqual(await mailbox.next(), { value: undefined, done: true });
    assert.equal(mailbox.deliver({ version: 9 }), false);
    assert.equal(mailbox.closed, true);
    assert.equal(closes, 1);
  });

  it('works with for await', async () => {
    const mailbox = createLatestMailbox<{ version: number }>(() => {});
    mailbox.deliver({ version: 1 });
    const seen: number[] = [];
    for await (const state of mailbox) {
      seen.push(state.version);
      if (state.version === 1) mailbox.deliver({ version: 2 });
      else break;
    }
    assert.deepEqual(seen, [1, 2]);
    assert.equal(mailbox.closed, true, 'break calls return()');
  });
});
