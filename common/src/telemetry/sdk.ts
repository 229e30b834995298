// OpenTelemetry SDK setup for every votemesh process (docs/observability.md). Loaded before
// application code by each process's `src/instrument.ts` (see instrument-process.ts), so the
// auto-instrumentations can patch http, graphql, ioredis, pg and @grpc/grpc-js as they load.
//
// Three modes, decided from the standard OTEL_* variables:
// - `otlp`: spans are batched to an OTLP/HTTP endpoint (the charts set OTEL_EXPORTER_OTLP_ENDPOINT).
// - `local` (the default): nothing is exported and spans are not recorded, but the W3C propagator,
//   the context manager and a tracer provider (local-tracer.ts) are still registered, so every
//   span still gets real ids: trace context crosses HTTP, graphql-ws, stream entries and gRPC, and
//   log lines carry trace_id/span_id, at the cost of creating ids only. Only the instrumentations that propagate
//   (http, grpc) are loaded: see LOCAL_MODE_INSTRUMENTATIONS; and of http only the client side:
//   incoming requests get their context from server-context.ts, without span attributes.
// - `disabled` (OTEL_SDK_DISABLED=true): nothing is registered; the API stays a no-op.
// Tests pass `spanProcessors` (e.g. an InMemorySpanExporter) and get every span recorded.
import { trace } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ConfigError, MAX_TIMER_MS, readBool, readInt, readOneOf, readOptionalString, readUrl, type Env } from '../config.ts';
import { ATTR, REQUEST_ID_HEADER, SERVICE_NAMESPACE } from './names.ts';
import { LocalTracerProvider } from './local-tracer.ts';
import { setLocalServerContext, UNTRACED_PATHS } from './server-context.ts';

export type TelemetryMode = 'disabled' | 'local' | 'otlp' | 'custom';

export interface TelemetryOptions {
  /** `service.name`, e.g. SERVICE_NAMES.gateway. OTEL_SERVICE_NAME overrides it. */
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** The environment to read OTEL_* from (the process's env, or a test's record). */
  readonly env: Env;
  /**
   * Span processors that receive every span, replacing any exporter (tests:
   * `new SimpleSpanProcessor(new InMemorySpanExporter())`). Every span is sampled.
   */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Replaces the default instrumentations (tests that only need some). */
  readonly instrumentations?: NodeSDKConfiguration['instrumentations'];
}

export interface Telemetry {
  readonly mode: TelemetryMode;
  /** Where spans go in `otlp` mode. */
  readonly endpoint?: string;
  /** Instrumentations that could not be loaded; the process runs without them. */
  readonly problems: readonly string[];
  /** Flushes pending spans and unregisters; safe to call twice. */
  shutdown(): Promise<void>;
}

export interface TelemetrySettings {
  readonly mode: Exclude<TelemetryMode, 'custom'>;
  readonly endpoint?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly sampler?: Sampler;
  readonly batch?: BatchSettings;
}

export interface BatchSettings {
  readonly scheduledDelayMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportTimeoutMillis: number;
}

const TRACES_PATH = '/v1/traces';
const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/**
 * Reads the standard OTEL_* variables: OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (otlp | none),
 * OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, OTEL_EXPORTER_OTLP_[TRACES_]HEADERS,
 * OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf or http/json; sent as OTLP/HTTP JSON),
 * OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG and OTEL_BSP_*. Export is on when OTEL_TRACES_EXPORTER=otlp or an
 * endpoint is set, off otherwise. A bad value throws ConfigError naming the variable.
 */
export function readTelemetrySettings(env: Env): TelemetrySettings {
  const disabled = readBool(env, 'OTEL_SDK_DISABLED', false);
  // Every setting is read, so checked, in every mode: with the SDK disabled and when not exporting
  // too. A typo must fail the deploy that makes it, not the later one that turns tracing on.
  const exporter = readOptionalString(env, 'OTEL_TRACES_EXPORTER');
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    throw new ConfigError('OTEL_TRACES_EXPORTER', `must be otlp or none, got "${exporter}"`);
  }
  const sampler = readSampler(env);
  const headers = readOtlpHeaders(env);
  const tracesEndpoint = readOptionalString(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const endpoint = readOptionalString(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const url = tracesEndpoint
    ? readUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', undefined, ['http:', 'https:'])
    : `${readUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', DEFAULT_OTLP_ENDPOINT, ['http:', 'https:']).replace(/\/+$/, '')}${TRACES_PATH}`;
  const protocolVariable = readOptionalString(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  readOneOf(env, protocolVariable, ['http/protobuf', 'http/json'], 'http/protobuf');
  const maxQueueSize = readInt(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, { min: 1, max: 1_000_000 });
  const batch: BatchSettings = {
    scheduledDelayMillis: readInt(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, { min: 0, max: MAX_TIMER_MS }),
    maxQueueSize,
    maxExportBatchSize: readInt(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', Math.min(512, maxQueueSize), { min: 1, max: maxQueueSize }),
    exportTimeoutMillis: readInt(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, { min: 1, max: MAX_TIMER_MS }),
  };

  if (disabled) return { mode: 'disabled' };
  const exporting = exporter === 'otlp' || (exporter === undefined && (tracesEndpoint !== undefined || endpoint !== undefined));
  if (!exporting) return { mode: 'local' };
  return { mode: 'otlp', endpoint: url, headers, sampler, batch };
}

/**
 * OTEL_EXPORTER_OTLP_[TRACES_]HEADERS: `key=value` pairs separated by commas, values URL-encoded
 * (the OpenTelemetry spec's format). Refused whole when any pair is malformed: the SDK's own parser
 * drops such a pair in silence, and a dropped authorization header shows up only as a collector
 * that rejects every batch.
 */
function readOtlpHeaders(env: Env): Readonly<Record<string, string>> {
  const variable = readOptionalString(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS') ? 'OTEL_EXPORTER_OTLP_TRACES_HEADERS' : 'OTEL_EXPORTER_OTLP_HEADERS';
  const raw = readOptionalString(env, variable);
  const headers: Record<string, string> = {};
  if (raw === undefined) return headers;
  for (const [index, pair] of raw.split(',').entries()) {
    const separator = pair.indexOf('=');
    const key = separator === -1 ? '' : pair.slice(0, separator).trim();
    // Names only in the message, never values: a value is usually a credential.
    if (!HEADER_NAME.test(key)) {
      const found = separator === -1 ? 'has no "="' : `has "${key}" before "=", not a header name`;
      throw new ConfigError(variable, `must be comma-separated name=value pairs (values URL-encoded); pair ${index + 1} ${found}`);
    }
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(separator + 1).trim());
    } catch {
      throw new ConfigError(variable, `has a value for "${key}" that is not valid URL encoding`);
    }
    headers[key] = value;
  }
  return headers;
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function readSampler(env: Env): Sampler {
  const name = readOneOf(
    env,
    'OTEL_TRACES_SAMPLER',
    ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'],
    'parentbased_always_on',
  );
  // Checked even for a sampler that ignores it: the only samplers here that take an argument take
  // this ratio, and a bad one would otherwise surface when someone switches to them.
  const raw = readOptionalString(env, 'OTEL_TRACES_SAMPLER_ARG') ?? '1';
  const ratio = Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', `must be a number from 0 to 1, got "${raw}"`);
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

type Instrumentations = NodeSDKConfiguration['instrumentations'];

export type InstrumentationName = 'http' | 'graphql' | 'ioredis' | 'pg' | 'grpc';

/**
 * What `local` mode loads: only the instrumentations that carry trace context across a process
 * boundary (HTTP in and out, gRPC) and so make the active span every log line and stream entry
 * reads. The others only add spans inside a process — graphql (operation and per-field resolver
 * spans), ioredis and pg (one per command/query) — and in `local` mode nothing records those spans,
 * but wrapping every resolver, Redis command and query still cost ≈ 0.5 ms of CPU per castVote
 * summed over the processes (BENCHMARKS.md, issue 2b). With an exporter (`otlp`) all are loaded.
 */
export const LOCAL_MODE_INSTRUMENTATIONS: ReadonlySet<InstrumentationName> = new Set(['http', 'grpc']);

/**
 * The auto-instrumentations every process runs. Each is loaded on its own so one that cannot load
 * (see "Known issue" in docs/observability.md) is reported in `problems` instead of taking the
 * process down with it. `incomingHttp: false` loads only the client side of http (local mode).
 */
export async function createInstrumentations(
  problems: string[] = [],
  only?: ReadonlySet<InstrumentationName>,
  { incomingHttp = true }: { incomingHttp?: boolean } = {},
): Promise<Instrumentations> {
  const loaders: [InstrumentationName, () => Promise<Instrumentations[number]>][] = [
    [
      'http',
      async () =>
        new HttpInstrumentation({
          disableIncomingRequestInstrumentation: !incomingHttp,
          ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.has((request.url ?? '').split('?', 1)[0] ?? ''),
          headersToSpanAttributes: { server: { requestHeaders: [REQUEST_ID_HEADER] }, client: { requestHeaders: [REQUEST_ID_HEADER] } },
        }),
    ],
    [
      'graphql',
      async () => {
        const { GraphQLInstrumentation } = await import('@opentelemetry/instrumentation-graphql');
        // One span per field path across list items; default resolvers (property reads) get none.
        return new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true, allowValues: false });
      },
    ],
    [
      'ioredis',
      async () => {
        const { IORedisInstrumentation } = await import('@opentelemetry/instrumentation-ioredis');
        // Only inside a traced operation: the worker's blocking XREADGROUP loop must not start a
        // trace per poll. The default serializer keeps command names and keys, never values.
        return new IORedisInstrumentation({ requireParentSpan: true });
      },
    ],
    [
      'pg',
      async () => {
        const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
        // Prisma's pg driver adapter runs its SQL through `pg`.
        return new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false });
      },
    ],
    [
      'grpc',
      async () => {
        const { GrpcInstrumentation } = await import('@opentelemetry/instrumentation-grpc');
        return new GrpcInstrumentation();
      },
    ],
  ];
  const instrumentations: Instrumentations = [];
  for (const [name, load] of loaders) {
    if (only && !only.has(name)) continue;
    try {
      instrumentations.push(await load());
    } catch (error) {
      problems.push(`${name} instrumentation unavailable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return instrumentations;
}

function resourceFor(options: TelemetryOptions) {
  return defaultResource().merge(
    resourceFromAttributes({
      [ATTR.SERVICE_NAME]: readOptionalString(options.env, 'OTEL_SERVICE_NAME') ?? options.serviceName,
      [ATTR.SERVICE_VERSION]: options.serviceVersion,
      [ATTR.SERVICE_NAMESPACE]: SERVICE_NAMESPACE,
    }),
  );
}

/**
 * Starts the OpenTelemetry SDK for one process and registers it with @opentelemetry/api. Call once,
 * before the modules to instrument are imported.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const custom = options.spanProcessors !== undefined;
  const settings = custom ? undefined : readTelemetrySettings(options.env);
  const mode: TelemetryMode = settings?.mode ?? 'custom';
  if (mode === 'disabled') return { mode, problems: [], shutdown: async () => {} };
  const problems: string[] = [];
  const local = mode === 'local';
  const instrumentations =
    options.instrumentations ?? (await createInstrumentations(problems, local ? LOCAL_MODE_INSTRUMENTATIONS : undefined, { incomingHttp: !local }));

  // Local mode has no span processor, so the SDK registers no tracer provider: LocalTracerProvider
  // (registered below) mints the ids instead, without the SDK's per-span work.
  let spanProcessors: SpanProcessor[] = [];
  let sampler: Sampler | undefined;
  if (options.spanProcessors) {
    spanProcessors = [...options.spanProcessors];
    sampler = new AlwaysOnSampler();
  } else if (settings?.mode === 'otlp' && settings.endpoint) {
    // Built here rather than from process.env inside the SDK, so `env` is the one source.
    const exporter = new OTLPTraceExporter({ url: settings.endpoint, headers: { ...settings.headers } });
    spanProcessors = [new BatchSpanProcessor({ exporter, ...settings.batch })];
    sampler = settings.sampler ?? new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }

  const sdk = new NodeSDK({
    serviceName: readOptionalString(options.env, 'OTEL_SERVICE_NAME') ?? options.serviceName,
    resource: resourceFor(options),
    // Host/OS detection only matters for exported spans.
    autoDetectResources: mode === 'otlp',
    textMapPropagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    spanProcessors,
    ...(sampler ? { sampler } : {}),
    instrumentations,
    // Metrics are prom-client's (/metrics); logs are pino's (stdout). The SDK exports neither.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  if (local) trace.setGlobalTracerProvider(new LocalTracerProvider());
  setLocalServerContext(local);

  let stopped: Promise<void> | undefined;
  return {
    mode,
    problems,
    ...(settings?.endpoint ? { endpoint: settings.endpoint } : {}),
    shutdown: () => {
      stopped ??= (async () => {
        setLocalServerContext(false);
        await sdk.shutdown();
      })();
      return stopped;
    },
  };
}
