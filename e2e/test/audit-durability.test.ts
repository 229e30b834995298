// Audit events survive their senders: with the audit subgraph down, votes are cast and counted, then
// the worker is SIGKILLed and the vote subgraph restarted (SIGTERM); when the audit subgraph comes
// back, every event (poll lifecycle, vote.accepted, vote.counted) is in the log exactly once, the
// Redis spools are empty and verifyAuditLog passes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { auditSpoolKey } from '@votemesh/common/grpc/audit-spool';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, createOpenPoll, waitForFinalReceipts } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';

const VOTERS = 12;

describe('audit events across an audit outage and sender restarts', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let redis: Redis;

  before(async () => {
    stack = await startStack();
    client = createGraphQLClient(stack.gatewayUrl);
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  });
  after(async () => {
    redis?.disconnect();
    await stack?.[Symbol.asyncDispose]();
  });

  it('delivers every event exactly once after the audit subgraph returns', async () => {
    const adminToken = await client.adminToken(ADMIN_SECRET);
    const voteSpool = auditSpoolKey(stack.redisPrefix, 'vote');
    const workerSpool = auditSpoolKey(stack.redisPrefix, 'worker');

    await stack.processes.get('audit')?.stop();
    const poll = await createOpenPoll(client, adminToken, ['Yes', 'No']);
    const voters = await Promise.all(Array.from({ length: VOTERS }, () => client.voterToken()));
    const receipts = await Promise.all(voters.map(async (token, i) => ({ id: await castVote(client, token, poll.id, poll.options[i % 2]?.id ?? ''), token })));
    await waitForFinalReceipts(client, receipts);
    // poll.created + poll.opened + one vote.accepted per vote from the vote subgraph; one vote.counted
    // per vote from the worker (written before it acknowledged the batch).
    await waitFor(async () => (await redis.zcard(voteSpool)) === 2 + VOTERS && (await redis.zcard(workerSpool)) === VOTERS, {
      what: 'every unconfirmed event in the spools',
    });

    await stack.processes.get('worker')?.kill();
    await stack.restart('worker');
    await stack.restart('vote');
    await stack.restart('audit');

    await waitFor(async () => (await redis.zcard(voteSpool)) + (await redis.zcard(workerSpool)) === 0, {
      timeoutMs: 30_000,
      what: 'the spools to drain',
    });
    const db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ action: string; subject_id: string; n: number }>(
        `SELECT action, subject_id, count(*)::int AS n FROM audit_events WHERE poll_id = $1 GROUP BY action, subject_id ORDER BY action, subject_id`,
        [poll.id],
      );
      const expected = [
        ...receipts.map((receipt) => ({ action: 'vote.accepted', subject_id: receipt.id, n: 1 })),
        ...receipts.map((receipt) => ({ action: 'vote.counted', subject_id: receipt.id, n: 1 })),
        { action: 'poll.created', subject_id: poll.id, n: 1 },
        { action: 'poll.opened', subject_id: poll.id, n: 1 },
      ].sort((a, b) => (a.action === b.action ? a.subject_id.localeCompare(b.subject_id) : a.action.localeCompare(b.action)));
      assert.deepEqual(rows, expected);
    } finally {
      await db.end();
    }

    type Verification = { verifyAuditLog: { ok: boolean; checkedEvents: number; reason: string | null } };
    const verification = await client.data<Verification>('{ verifyAuditLog { ok checkedEvents reason } }', {}, adminToken);
    assert.equal(verification.verifyAuditLog.ok, true, verification.verifyAuditLog.reason ?? '');
    assert.equal(verification.verifyAuditLog.checkedEvents, 2 + 2 * VOTERS);

    const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.vote}/metrics`)).text();
    assert.match(metrics, /^votemesh_audit_client_resent_total\{cause="spool",[^}]*\} 14$/m, 'the restarted vote subgraph resent its predecessor’s events');
  });
});
