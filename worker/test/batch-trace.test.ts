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
const { encodeVoteEntry, VOTE_FIELD } = await import('@votemesh/common/contracts/vote-entry');
const { applyBatch } = await import('../src/apply-batch.ts');
const { batchSpanAttributes, MAX_LINKS } = await import('../src/trace.ts');
const { createHarness } = await import('./support/harness.ts');
const { encodeLegacyVoteEntry } = await import('./support/legacy-entry.ts');

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

  it('links to the castVote span of every entry, in either layout and malformed ones too, at most MAX_LINKS', async () => {
    const poll = await h.createPoll(2);
    const traceparentOf = (i: number): string => `00-${(i + 1).toString(16).padStart(32, 'a')}-${(i + 1).toString(16).padStart(16, 'b')}-01`;
    const vote = (i: number) => ({
      receiptId: crypto.randomUUID(),
      pollId: poll.id,
      optionId: poll.optionIds[i % 2]!,
      voterId: `link-${i}`,
      castAt: new Date().toISOString(),
      traceparent: traceparentOf(i),
    });
    const entries = [
      { id: '6000-0', fields: encodeVoteEntry(vote(0)) },
      { id: '6000-1', fields: encodeLegacyVoteEntry(vote(1)) },
      { id: '6000-2', fields: [VOTE_FIELD, JSON.stringify({ ...vote(2), optionId: 'not-a-uuid' })] },
      { id: '6000-3', fields: encodeVoteEntry({ ...vote(3), traceparent: '' }) },
    ];
    recorder.reset();
    const report = await applyBatch(h.applyDeps, entries);
    assert.deepEqual({ counted: report.counted, rejected: report.rejected }, { counted: 3, rejected: 1 });
    const span = recorder.spans().find((candidate) => candidate.name === SPAN_NAMES.tallyApplyBatch);
    assert.ok(span);
    // Parsed votes first, then what was salvaged from malformed entries.
    assert.deepEqual(
      span.links.map((link) => `00-${link.context.traceId}-${link.context.spanId}-01`),
      [traceparentOf(0), traceparentOf(1), traceparentOf(2)],
    );

    const many = Array.from({ length: MAX_LINKS + 5 }, (_, i) => ({ id: `6001-${i}`, fields: encodeVoteEntry(vote(10 + i)) }));
    recorder.reset();
    await applyBatch(h.applyDeps, many);
    const capped = recorder.spans().find((candidate) => candidate.name === SPAN_NAMES.tallyApplyBatch);
    assert.equal(capped?.links.length, MAX_LINKS);
  });
});
