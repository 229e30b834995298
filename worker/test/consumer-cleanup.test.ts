// Consumers that are gone leave the tally group: every process start reads it under new names
// (<hostname>-<pid>#<lane>), and without cleanup XINFO CONSUMERS would list every process that ever
// ran. A consumer is deleted only once it is idle past CONSUMER_DELETE_IDLE_MS and owns no pending
// entries, so a dead consumer's entries are claimed (and counted) first, never dropped with it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { startConsumer, type ConsumerDeps } from '../src/consumer.ts';
import { ensureGroup, readGroup, type StreamRef } from '../src/stream.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
let stream: StreamRef;
before(async () => {
  h = await createHarness();
  stream = { key: h.keys.votes, group: h.keys.tallyGroup };
});
after(async () => {
  await h[Symbol.asyncDispose]();
});

function consumerDeps(name: string, overrides: Partial<ConsumerDeps['settings']> = {}): ConsumerDeps {
  return {
    ...h.applyDeps,
    settings: {
      ...h.applyDeps.settings,
      consumerName: name,
      concurrency: 2,
      batchSize: 50,
      blockMs: 100,
      claimIdleMs: 60_000,
      claimIntervalMs: 200,
      consumerDeleteIdleMs: 1000,
      ...overrides,
    },
  };
}

/** The group's consumers as XINFO CONSUMERS lists them (each a flat [field, value, …] array). */
async function listConsumers(): Promise<{ name: string; pending: number; idleMs: number }[]> {
  const reply = (await h.redis.call('XINFO', 'CONSUMERS', stream.key, stream.group)) as unknown[][];
  return reply.map((fields) => {
    const info = new Map<unknown, unknown>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i], fields[i + 1]);
    return { name: String(info.get('name')), pending: Number(info.get('pending')), idleMs: Number(info.get('idle')) };
  });
}

async function consumerNames(): Promise<string[]> {
  return (await listConsumers()).map((consumer) => consumer.name).sort();
}

function deletedConsumersMetric(): Promise<number> {
  return h.metrics.deletedConsumers.get().then((metric) => metric.values[0]?.value ?? 0);
}

describe('consumer: deleting consumers that are gone', () => {
  let pendingReceipt: string;

  it('deletes an idle consumer with no pending entries, and keeps an idle one that has some', async () => {
    const poll = await h.createPoll(2);
    await ensureGroup(h.redis, stream);
    // A process that started and died without reading anything, and one that died holding a vote.
    await h.redis.call('XGROUP', 'CREATECONSUMER', stream.key, stream.group, 'gone-empty#0');
    const vote = await h.castVote({ pollId: poll.id, optionId: poll.optionIds[0] as string, voterId: 'v-held' });
    pendingReceipt = vote.receiptId;
    assert.equal((await readGroup(h.redis, stream, { consumer: 'gone-pending#0', count: 10, from: '>' })).length, 1);

    // CLAIM_IDLE_MS far away: the held vote stays pending on its dead consumer throughout.
    const consumer = await startConsumer(consumerDeps('cleanup-a'));
    try {
      await waitFor(async () => !(await consumerNames()).includes('gone-empty#0'), { what: 'the empty idle consumer to be deleted', timeoutMs: 15_000 });
      const held = (await listConsumers()).find((entry) => entry.name === 'gone-pending#0');
      assert.equal(held?.pending, 1, 'a consumer with a pending entry is kept, however idle');
      assert.ok(held && held.idleMs >= 1000);
      assert.ok((await consumerNames()).includes('cleanup-a#0'), 'its own consumers are kept');
      assert.ok((await deletedConsumersMetric()) >= 1, 'votemesh_worker_deleted_consumers_total counts it');
      assert.equal((await h.receipt(pendingReceipt))['status'], undefined, 'the held vote is not applied yet: it waits for CLAIM_IDLE_MS');
    } finally {
      await consumer.stop();
    }
  });

  it('keeps XINFO CONSUMERS to the live replica across restarts, once dead consumers’ entries are claimed', async () => {
    // Three restarts under new names, as pods of successive rollouts would have.
    for (const name of ['restart-1', 'restart-2']) {
      const consumer = await startConsumer(consumerDeps(name));
      await waitFor(async () => (await consumerNames()).includes(`${name}#1`), { what: `${name}'s lanes to read the group` });
      await consumer.stop();
    }
    const live = await startConsumer(consumerDeps('restart-3', { claimIdleMs: 200 }));
    try {
      // The vote held by gone-pending#0 is claimed and counted; then nothing stops its deletion.
      await waitFor(async () => (await h.receipt(pendingReceipt))['status'] === 'COUNTED', { what: 'the held vote to be claimed and counted' });
      await waitFor(async () => (await consumerNames()).join(',') === [...live.consumerNames].sort().join(','), {
        what: 'only the live replica’s consumers to remain',
        timeoutMs: 15_000,
      });
    } finally {
      await live.stop();
    }
  });
});
