// OpenTelemetry's own failures reach the process logger: an exporter that cannot reach its
// collector is an error line marked component=opentelemetry, not silence.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { createLogger } from '../src/logger.ts';
import { routeDiagnostics } from '../src/telemetry/diagnostics.ts';
import { startTelemetry, type Telemetry } from '../src/telemetry/sdk.ts';
import { waitFor } from '../src/testing/wait-for.ts';
import { freePort } from '../src/testing/free-port.ts';

let telemetry: Telemetry | undefined;
after(() => telemetry?.shutdown());

describe('routeDiagnostics', () => {
  it('logs a failed span export as an error of component opentelemetry', async () => {
    const output = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    output.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    routeDiagnostics(createLogger({ service: 'diag-test', destination: output }));
    telemetry = await startTelemetry({
      serviceName: 'diag-test',
      serviceVersion: '0',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`, OTEL_BSP_SCHEDULE_DELAY: '10', OTEL_BSP_EXPORT_TIMEOUT: '2000' },
      instrumentations: [],
    });
    assert.equal(telemetry.mode, 'otlp');
    trace.getTracer('diag-test').startSpan('lost').end();
    const failure = await waitFor(() => lines.find((line) => line['component'] === 'opentelemetry' && line['level'] === 50), {
      timeoutMs: 15_000,
      what: 'an opentelemetry error line',
    });
    assert.match(JSON.stringify(failure), /ECONNREFUSED|export/i);
  });
});
