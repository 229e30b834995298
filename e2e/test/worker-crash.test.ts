// Issue 2, scenario 2: a worker is SIGKILLed while the stream still holds unapplied votes, a second
// worker runs meanwhile and claims what the dead one left pending, the first is restarted: the final
// tallies are exact — nothing lost, nothing counted twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient, type GraphQLClient } from '../src/graphql-client.ts';
import { castVote, createOpenPoll, expectedTally, readResults, runConcurrently, waitForFinalReceipts } from '../src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../src/stack.ts';

describe('worker crash in the middle of a batch', () => {
  let stack: Stack;
  let client: GraphQLClient;
  let redis: Redis;

  before(async () => {
    // Small batches and a short claim idle time, so a crash leaves pending entries and they are claimed quickly.
    stack = await startStack({ workerEnv: { BATCH_SIZE: '50', CLAIM_IDLE_MS: '1500', CONSUMER_NAME: 'worker-a' } });
    client = createGraphQLClient(stack.gatewayUrl);
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  });
  after(async () => {
    redis?.disconnect();
    await stack?.[Symbol.asyncDispose]();
  });

  it('keeps tallies exact across SIGKILL, claim by a second worker and restart', async () => {
    const adminToken = await client.adminToken(ADMIN_SECRET);
    const poll = await createOpenPoll(client, adminToken, ['Red', 'Green', 'Blue']);
    await stack.startWorker('worker-b', { BATCH_SIZE: '50', CLAIM_IDLE_MS: '1500' });

    const voters = await Promise.all(Array.from({ length: 150 }, () => client.voterToken()));
    const lastChoice = new Map<string, string>();
    const receipts: { id: string; token: string }[] = [];
    let killed = false;
    const streamKey = `${stack.redisPrefix}votes`;

    await runConcurrently(voters, 30, async (token) => {
      for (let round = 0; round < 4; round++) {
        const option = poll.options[(round + voters.indexOf(token)) % poll.options.length];
        assert.ok(option);
        receipts.push({ id: await castVote(client, token, poll.id, option.id), token });
        lastChoice.set(token, option.id);
        // Kill worker-a once votes are flowing and the group still has entries in flight.
        if (!killed && receipts.length >= 200) {
          killed = true;
          await stack.processes.get('worker')?.kill();
        }
      }
    });
    assert.ok(killed, 'worker-a was killed during the run');

    await stack.restart('worker');
    const statuses = await waitForFinalReceipts(client, receipts, 90_000);
    assert.equal(statuses.size, receipts.length);

    const expected = expectedTally(lastChoice);
    const results = await waitFor(
      async () => {
        const current = await readResults(client, poll.id);
        return current.totalVotes === lastChoice.size && current;
      },
      { timeoutMs: 30_000, what: 'results to include every voter' },
    );
    for (const option of results.options) assert.equal(option.votes, expected.get(option.option.id) ?? 0, `votes for ${option.option.label}`);
    // Whatever worker-a held when it died was claimed and acknowledged by someone.
    await waitFor(async () => Number(((await redis.xpending(streamKey, 'tally')) as [number])[0]) === 0, {
      timeoutMs: 30_000,
      what: 'no entries left pending',
    });
  });
});
