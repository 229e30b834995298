// For tests that assert on spans: starts the SDK in this process the way a process's instrument.ts
// does (module hooks → SDK → hooks ready), exporting to memory instead of OTLP. Call it before
// importing what the test exercises (dynamic `await import(...)`), so graphql, http, ioredis, pg and
// grpc are instrumented when they load.
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { installModuleHooks } from '../telemetry/instrument-process.ts';
import { startTelemetry } from '../telemetry/sdk.ts';

export type { ReadableSpan };

export interface SpanRecorder {
  /** Every span ended so far (since the last reset). */
  spans(): ReadableSpan[];
  reset(): void;
  shutdown(): Promise<void>;
}

export async function startSpanRecorder(serviceName = 'votemesh-test'): Promise<SpanRecorder> {
  const exporter = new InMemorySpanExporter();
  const hooks = installModuleHooks();
  const telemetry = await startTelemetry({ serviceName, serviceVersion: '0.0.0', env: {}, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  await hooks.ready();
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    shutdown: () => telemetry.shutdown(),
  };
}
