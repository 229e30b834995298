// The batch span carries the messaging attributes of trace.ts, and the `batch applied` line (written
// when the batch settles, after its span ended) names the span's trace, so logs and traces join.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startSpanRecorder, type SpanRecorder } from '@votemesh/common/testing/span-recorder';

// The SDK first, then the modules it traces.
const recorder: SpanRecorder = await startSpanRecorder('worker-test');
const { createLogger } = await import('@votemesh/common/logger');
const { ATTR, SPAN_NAMES } = await import('@votemesh/common/telemetry/names');
const { encodeVoteEntry } = await import('@votemesh/common/contracts/vote-entry');
const { applyBatch } = await import('../src/apply-batch.ts');
const { batchSpanAttributes } = await import('../src/trace.ts');
const { createHarness } = await import('./support/harness.ts');

type Harness = Awaited<ReturnType<typeof createHarness>>;
let h: Harness;
before(async () => {
  h = await createHarness();
});
after(async () => {
  await h[Symbol.asyncDispose]();
  await recorder.shutdown();
});

describe('batch span and log', () => {
  it('sets batchSpanAttributes on the batch span and logs `batch applied` with its trace id', async () => {
    const poll = await h.createPoll(2);
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const logger = createLogger({ service: 'worker-test', level: 'debug', destination: stream });
    const entries = ['t1', 't2', 't3'].map((voterId, i) => ({
      id: `${5000 + i}-0`,
      fields: encodeVoteEntry({ receiptId: crypto.randomUUID(), pollId: poll.id, optionId: poll.optionIds[0]!, voterId, castAt: new Date().toISOString() }),
    }));
    recorder.reset();
    await applyBatch({ ...h.applyDeps, logger }, entries);

    const span = recorder.spans().find((candidate) => candidate.name === SPAN_NAMES.tallyApplyBatch);
    assert.ok(span, 'the batch span was recorded');
    for (const [key, value] of Object.entries(batchSpanAttributes(3))) assert.equal(span.attributes[key], value, key);
    assert.equal(span.attributes[ATTR.BATCH_SIZE], 3);

    const lines = text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const applied = lines.find((line) => line['msg'] === 'batch applied');
    assert.ok(applied, `a "batch applied" line in ${text}`);
    assert.equal(applied['trace_id'], span.spanContext().traceId);
    assert.equal(applied['span_id'], span.spanContext().spanId);
    assert.equal(applied['counted'], 3);
  });
});
