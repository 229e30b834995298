// The default local mode: nothing recorded or exported, yet every span has real ids, so trace
// context still propagates (stream entries, gRPC) and log lines carry trace_id/span_id.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { startTelemetry } from '../src/telemetry/sdk.ts';
import { contextFromTraceparent, injectTraceparent, withSpan } from '../src/telemetry/propagation.ts';

const telemetry = await startTelemetry({ serviceName: 'votemesh-test', serviceVersion: '0.0.0', env: {}, instrumentations: [] });

describe('local telemetry mode', () => {
  after(() => telemetry.shutdown());

  it('reports local mode without an endpoint', () => {
    assert.equal(telemetry.mode, 'local');
    assert.equal(telemetry.endpoint, undefined);
  });

  it('mints ids and propagates an unsampled traceparent without recording', async () => {
    const tracer = trace.getTracer('test');
    await withSpan(tracer, 'outer', {}, async (outer) => {
      assert.equal(outer.isRecording(), false);
      const { traceId, spanId } = outer.spanContext();
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(traceId, '0'.repeat(32));
      assert.equal(injectTraceparent(), `00-${traceId}-${spanId}-00`);
      // A hop through a stream entry continues the same trace.
      await withSpan(
        tracer,
        'worker',
        {},
        (inner) => {
          assert.equal(inner.spanContext().traceId, traceId);
          assert.notEqual(inner.spanContext().spanId, spanId);
        },
        { parent: contextFromTraceparent(injectTraceparent()) },
      );
    });
  });
});
