// Issue 2, scenario 5: the audit log's hash chain verifies; altering one stored event makes
// verifyAuditLog point at exactly that event.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, createOpenPoll, waitForFinalReceipts } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';

const VERIFY = `{ verifyAuditLog { ok checkedEvents firstBrokenSeq reason } }`;

describe('audit hash chain', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let adminToken: string;

  before(async () => {
    stack = await startStack();
    client = createGraphQLClient(stack.gatewayUrl);
    adminToken = await client.adminToken(ADMIN_SECRET);
  });
  after(async () => stack?.[Symbol.asyncDispose]());

  it('verifies, then points at the one event that was altered', async () => {
    const poll = await createOpenPoll(client, adminToken, ['Left', 'Right']);
    const voters = await Promise.all(Array.from({ length: 5 }, () => client.voterToken()));
    const receipts = await Promise.all(voters.map(async (token) => ({ id: await castVote(client, token, poll.id, poll.options[0]?.id ?? ''), token })));
    await waitForFinalReceipts(client, receipts);

    type Verification = { verifyAuditLog: { ok: boolean; checkedEvents: number; firstBrokenSeq: string | null; reason: string | null } };
    // 2 lifecycle events + 5 accepted + 5 counted reach the log asynchronously.
    const healthy = await waitFor(
      async () => {
        const result = await client.data<Verification>(VERIFY, {}, adminToken);
        return result.verifyAuditLog.checkedEvents >= 12 && result;
      },
      { timeoutMs: 20_000, what: 'all audit events to be appended' },
    );
    assert.equal(healthy.verifyAuditLog.ok, true);
    assert.equal(healthy.verifyAuditLog.firstBrokenSeq, null);

    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ seq: string }>(`SELECT seq::text FROM audit_events WHERE action = 'vote.accepted' ORDER BY seq LIMIT 1 OFFSET 2`);
      const target = rows[0]?.seq;
      assert.ok(target);
      await db.query(`UPDATE audit_events SET actor = 'voter:someone-else' WHERE seq = $1`, [target]);
      const broken = await client.data<Verification>(VERIFY, {}, adminToken);
      assert.equal(broken.verifyAuditLog.ok, false);
      assert.equal(broken.verifyAuditLog.firstBrokenSeq, target);
      assert.ok(broken.verifyAuditLog.reason && broken.verifyAuditLog.reason.length > 0);
    } finally {
      await db.end();
    }
  });

  it('refuses verifyAuditLog to voters', async () => {
    const voter = await client.voterToken();
    const response = await client.request(VERIFY, {}, voter);
    assert.equal(response.errors?.[0]?.extensions?.['code'], 'FORBIDDEN');
  });
});
