// The batching appender against the real store and database: when a batch shared by several
// submissions fails, each submission is retried alone, so only the one PostgreSQL refuses fails;
// when the database cannot be reached, the batch fails at once, without an attempt per submission.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { createDatabasePool } from '@votemesh/common/db/client';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createAppender } from '../src/appender.ts';
import type { ChainedContent } from '../src/chain.ts';
import { createAuditMetrics } from '../src/metrics.ts';
import { createAuditStore, type AuditStore } from '../src/store.ts';
import { startHarness, type Harness } from './harness.ts';

function content(overrides: Partial<ChainedContent> = {}): ChainedContent {
  return {
    eventId: randomUUID(),
    at: '2030-01-01T00:00:00.000Z',
    actor: 'system:test',
    action: 'vote.counted',
    subjectType: 'Vote',
    subjectId: randomUUID(),
    pollId: null,
    traceId: null,
    data: { n: 1 },
    ...overrides,
  };
}

/** The store, counting its append attempts. */
function counting(store: AuditStore): AuditStore & { readonly attempts: () => number } {
  let attempts = 0;
  return {
    ...store,
    append(events) {
      attempts += 1;
      return store.append(events);
    },
    attempts: () => attempts,
  };
}

/** A loopback port nothing listens on: a database that is down. */
async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('appender', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  it('commits the other submissions of a batch that one submission makes fail', async () => {
    const store = counting(createAuditStore(h.prisma, h.pool));
    const appender = createAppender({
      store,
      metrics: createAuditMetrics(createMetricsRegistry('appender-test')),
      logger: h.logger,
      onAppended: () => undefined,
      maxDelayMs: 50,
    });
    const first = [content(), content()];
    // Past the edge check on purpose: PostgreSQL has no year 0, so the batch's INSERT fails.
    const poisoned = [content(), content({ at: '0000-06-01T00:00:00.000Z' })];
    const last = [content()];
    // Submitted in one tick: all three wait for the same batch.
    const outcomes = await Promise.allSettled([appender.submit(first), appender.submit(poisoned), appender.submit(last)]);
    await appender.close();

    assert.equal(outcomes[0]?.status, 'fulfilled');
    assert.equal(outcomes[1]?.status, 'rejected');
    assert.equal(outcomes[2]?.status, 'fulfilled');
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.appended : null)),
      [2, null, 1],
    );
    const stored = await h.prisma.auditEvent.findMany({ select: { eventId: true } });
    assert.deepEqual(new Set(stored.map((row) => row.eventId)), new Set([...first, ...last].map((event) => event.eventId)));
    assert.equal((await store.verify()).ok, true);
    assert.equal(store.attempts(), 4, 'the batch, then each of its three submissions alone');
  });

  it('fails every submission of a batch at once, UNAVAILABLE, when the database cannot be reached', async () => {
    const down = createDatabasePool(`postgresql://postgres@127.0.0.1:${await deadPort()}/audit`);
    try {
      const store = counting(createAuditStore(h.prisma, down));
      const appender = createAppender({
        store,
        metrics: createAuditMetrics(createMetricsRegistry('appender-down-test')),
        logger: h.logger,
        onAppended: () => undefined,
        maxDelayMs: 50,
      });
      // Submitted in one tick: all three wait for the same batch.
      const outcomes = await Promise.allSettled([appender.submit([content()]), appender.submit([content(), content()]), appender.submit([content()])]);
      await appender.close();

      assert.equal(store.attempts(), 1, 'one attempt for the batch, none per submission');
      const reasons = outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : undefined));
      for (const reason of reasons) {
        assert.equal(reason?.code, 'UPSTREAM_UNAVAILABLE');
        assert.match(reason?.message ?? '', /^the audit database is unavailable: .*ECONNREFUSED/);
      }
      assert.equal(new Set(reasons).size, 1, 'the same error for every submission');
    } finally {
      await down.end();
    }
  });
});
