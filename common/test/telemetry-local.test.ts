// The default local mode: nothing recorded or exported, yet every span has real ids, so trace
// context still propagates (stream entries, gRPC) and log lines carry trace_id/span_id.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { createHttpServer, listen } from '../src/http-server.ts';
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

  it('startActiveSpan (as libraries call it) runs in a child span of the active trace; root spans start a new one', () => {
    const tracer = trace.getTracer('library');
    const parent = contextFromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    const child = tracer.startActiveSpan('child', {}, parent, (span) => {
      assert.equal(trace.getActiveSpan(), span);
      return span.spanContext();
    });
    assert.equal(child.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(child.spanId, '00f067aa0ba902b7');
    const nested = context.with(parent, () => tracer.startActiveSpan('nested', (span) => span.spanContext()));
    assert.equal(nested.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    const root = tracer.startSpan('root', { root: true }, parent).spanContext();
    assert.notEqual(root.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(root.traceFlags, 0);
  });

  describe('incoming HTTP requests (server-context.ts, no http server instrumentation)', () => {
    const seen: { path: string; span: SpanContext | undefined; recording: boolean | undefined }[] = [];
    let server: Awaited<ReturnType<typeof listen>>;
    after(() => server.close());

    const get = async (path: string, headers: Record<string, string> = {}): Promise<(typeof seen)[number] | undefined> => {
      server ??= await listen(
        createHttpServer(async (req, res) => {
          await Promise.resolve(); // the context survives an await, as a handler's work does
          const span = trace.getActiveSpan();
          seen.push({ path: req.url ?? '', span: span?.spanContext(), recording: span?.isRecording() });
          res.end();
        }),
        0,
        '127.0.0.1',
      );
      await (await fetch(`${server.url}${path}`, { headers })).arrayBuffer();
      return seen.at(-1);
    };

    it("continues the caller's trace in a fresh, unrecorded server span", async () => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const request = await get('/graphql', { traceparent });
      assert.equal(request?.span?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.notEqual(request?.span?.spanId, '00f067aa0ba902b7');
      assert.match(request?.span?.spanId ?? '', /^[0-9a-f]{16}$/);
      assert.equal(request?.recording, false);
    });

    it('starts a trace for a caller without one', async () => {
      const request = await get('/graphql');
      assert.match(request?.span?.traceId ?? '', /^[0-9a-f]{32}$/);
      assert.notEqual(request?.span?.traceId, '0'.repeat(32));
    });

    it('leaves probes and scrapes without a span', async () => {
      const request = await get('/readyz');
      assert.equal(request?.path, '/readyz');
      assert.equal(request?.span, undefined);
    });
  });
});
