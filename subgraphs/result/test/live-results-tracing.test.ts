// Where the shared WatchResults stream lands in traces, with the SDK started in-process (in-memory
// exporter) against a real gRPC tally service (the fake one). The stream of a poll opens with its
// first subscriber and serves every later one, so it must not be part of that first subscription's
// trace: it is opened in the root context and its client span is the root of a trace of its own.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { startSpanRecorder, type ReadableSpan } from '@votemesh/common/testing/span-recorder';
import { waitFor } from '@votemesh/common/testing/wait-for';

const recorder = await startSpanRecorder('live-results-tracing-test');
// grpc loads after the SDK, so its instrumentation is in place.
const { createLogger } = await import('@votemesh/common/logger');
const { createMetricsRegistry } = await import('@votemesh/common/metrics');
const { createLiveResults } = await import('../src/live-results.ts');
const { createResultMetrics } = await import('../src/metrics.ts');
const { createTallyServiceClient, createTallySource } = await import('../src/tally-client.ts');
const { startFakeTallyService } = await import('./fake-tally-service.ts');

const tracer = trace.getTracer(TRACER_NAMES.result);
const logger = createLogger({ service: 'live-results-tracing-test', level: 'error' });
after(() => recorder.shutdown());

const isWatchClientSpan = (span: ReadableSpan): boolean => span.name === 'grpc.votemesh.tally.v1.TallyService/WatchResults' && span.kind === 2;

describe('live results tracing', () => {
  it('opens the shared WatchResults stream in a trace of its own, not in the first subscription', async () => {
    const tallyService = await startFakeTallyService();
    const client = createTallyServiceClient(tallyService.address);
    const pollId = randomUUID();
    const optionId = randomUUID();
    const live = createLiveResults({
      tally: createTallySource(client, { address: tallyService.address, logger }),
      options: { loadOptionIds: async (ids) => new Map(ids.map((id) => [id, [optionId]])) },
      metrics: createResultMetrics(createMetricsRegistry('result')),
      logger,
      coalesceMs: 1,
    });
    try {
      recorder.reset();
      const subscribers: { traceId: string; iterator: AsyncIterableIterator<unknown> }[] = [];
      for (const n of [1, 2]) {
        await tracer.startActiveSpan(`subscription ${n}`, async (span) => {
          subscribers.push({ traceId: span.spanContext().traceId, iterator: await live.subscribe(pollId) });
          span.end();
        });
      }
      await waitFor(() => tallyService.watchers(pollId) === 1, { timeoutMs: 5000, what: 'one WatchResults stream' });
      tallyService.commit(pollId, { [optionId]: 3 });
      for (const { iterator } of subscribers) {
        await waitFor(
          async () => {
            const { value } = await iterator.next();
            return (value as { totalVotes?: number }).totalVotes === 3;
          },
          { timeoutMs: 5000, what: 'the pushed tally' },
        );
      }
      live.close();
      await waitFor(() => recorder.spans().some(isWatchClientSpan), { timeoutMs: 5000, what: 'the WatchResults client span' });

      for (const { traceId } of subscribers) {
        const names = recorder
          .spans()
          .filter((span) => span.spanContext().traceId === traceId)
          .map((span) => span.name);
        assert.ok(!names.some((name) => name.includes('WatchResults')), `subscription trace holds no WatchResults span: ${names.join(', ')}`);
      }
      const watch = recorder.spans().filter(isWatchClientSpan);
      assert.equal(watch.length, 1);
      assert.equal(watch[0]?.parentSpanContext, undefined, 'the WatchResults span is the root of its own trace');
    } finally {
      live.close();
      client.close();
      tallyService.stop();
    }
  });
});
