// The batching appender against the real store and database: when a batch shared by several
// submissions fails, each submission is retried alone, so only the one PostgreSQL refuses fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { createAppender } from '../src/appender.ts';
import type { ChainedContent } from '../src/chain.ts';
import { createAuditMetrics } from '../src/metrics.ts';
import { createAuditStore } from '../src/store.ts';
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

describe('appender', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.[Symbol.asyncDispose]();
  });

  it('commits the other submissions of a batch that one submission makes fail', async () => {
    const store = createAuditStore(h.prisma, h.pool);
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
  });
});
