// OTEL_* environment → telemetry mode: off by default locally, on when the charts set an endpoint.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../src/config.ts';
import { readTelemetrySettings } from '../src/telemetry/sdk.ts';

describe('readTelemetrySettings', () => {
  it('exports nothing by default', () => {
    assert.deepEqual(readTelemetrySettings({}), { mode: 'local' });
  });

  it('is disabled by OTEL_SDK_DISABLED even with an endpoint', () => {
    assert.deepEqual(readTelemetrySettings({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger-collector:4318' }), { mode: 'disabled' });
  });

  it('exports over OTLP/HTTP to <endpoint>/v1/traces when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
    const settings = readTelemetrySettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger-collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=votemesh,authorization=Bearer%20abc',
    });
    assert.equal(settings.mode, 'otlp');
    assert.equal(settings.endpoint, 'http://jaeger-collector:4318/v1/traces');
    assert.deepEqual(settings.headers, { 'x-tenant': 'votemesh', authorization: 'Bearer abc' });
    assert.equal(
      settings.sampler?.toString(),
      'ParentBased{root=AlwaysOnSampler, remoteParentSampled=AlwaysOnSampler, remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}',
    );
    assert.deepEqual(settings.batch, { scheduledDelayMillis: 5000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 30_000 });
  });

  it('uses a traces-specific endpoint as is', () => {
    const settings = readTelemetrySettings({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otel.example/traces',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
    });
    assert.equal(settings.endpoint, 'https://otel.example/traces');
  });

  it('exports to the default local collector when only OTEL_TRACES_EXPORTER=otlp is set', () => {
    assert.equal(readTelemetrySettings({ OTEL_TRACES_EXPORTER: 'otlp' }).endpoint, 'http://localhost:4318/v1/traces');
  });

  it('stays local when OTEL_TRACES_EXPORTER=none, whatever the endpoint', () => {
    assert.deepEqual(readTelemetrySettings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger-collector:4318' }), { mode: 'local' });
  });

  it('reads the sampler', () => {
    const settings = readTelemetrySettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
    assert.match(settings.sampler?.toString() ?? '', /^ParentBased\{root=TraceIdRatioBased\{0\.25\}/);
  });

  const bad: [string, Record<string, string>][] = [
    ['OTEL_TRACES_EXPORTER', { OTEL_TRACES_EXPORTER: 'zipkin' }],
    ['OTEL_SDK_DISABLED', { OTEL_SDK_DISABLED: 'maybe' }],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' }],
    ['OTEL_TRACES_SAMPLER', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' }],
    // Not exporting: still read, so the typo fails the deploy that makes it.
    ['OTEL_TRACES_SAMPLER', { OTEL_TRACES_SAMPLER: 'sometimes' }],
    ['OTEL_TRACES_SAMPLER_ARG', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }],
    ['OTEL_EXPORTER_OTLP_HEADERS', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=votemesh,Bearer abc' }],
    ['OTEL_EXPORTER_OTLP_HEADERS', { OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=votemesh,=abc' }],
    ['OTEL_EXPORTER_OTLP_HEADERS', { OTEL_EXPORTER_OTLP_HEADERS: 'bad header=1' }],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', { OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%zz' }],
    ['OTEL_BSP_SCHEDULE_DELAY', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_SCHEDULE_DELAY: '100000000000' }],
    ['OTEL_TRACES_SAMPLER_ARG', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }],
    // Not exporting either: the exporter's settings are checked before export is turned on.
    ['OTEL_BSP_SCHEDULE_DELAY', { OTEL_BSP_SCHEDULE_DELAY: 'soon' }],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' }],
    // A sampler that takes no argument: checked before someone switches to one that does.
    ['OTEL_TRACES_SAMPLER_ARG', { OTEL_TRACES_SAMPLER_ARG: '0,1' }],
  ];
  it('never shows a header value in its refusal (values are credentials)', () => {
    assert.throws(
      () => readTelemetrySettings({ OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=votemesh,Bearer s3cr3t' }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('s3cr3t') && /pair 2 has no "="/.test(error.message),
    );
  });

  for (const [variable, env] of bad) {
    it(`rejects a bad ${variable} naming it`, () => {
      assert.throws(
        () => readTelemetrySettings(env),
        (error: unknown) => error instanceof ConfigError && error.variable === variable,
      );
    });
    // Disabling the SDK skips no check: turning it back on must not be what reveals the typo.
    if (variable !== 'OTEL_SDK_DISABLED') {
      it(`rejects a bad ${variable} with OTEL_SDK_DISABLED=true too`, () => {
        assert.throws(
          () => readTelemetrySettings({ ...env, OTEL_SDK_DISABLED: 'true' }),
          (error: unknown) => error instanceof ConfigError && error.variable === variable,
        );
      });
    }
  }
});
