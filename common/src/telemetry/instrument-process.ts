// The body of every process's `src/instrument.ts`, which Node loads before the application:
//
//   node --import tsx --import ./worker/src/instrument.ts worker/src/main.ts
//
// Order matters: the module hooks must be in place and the instrumentations enabled before the
// application's import graph (http, graphql, ioredis, pg, @grpc/grpc-js) is loaded, which is why
// this cannot simply be the first import of main.ts (ESM links the whole graph before running it).
// main.ts imports `telemetry` from './instrument.ts' (the same module instance) to register
// `telemetry.shutdown` on its shutdown stack.
import { register, registerHooks } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { Env } from '../config.ts';
import { SERVICE_NAMES, type ServiceKey } from './names.ts';
import { readTelemetrySettings, startTelemetry, type Telemetry } from './sdk.ts';

export interface InstrumentProcessOptions {
  readonly service: ServiceKey;
  /** `service.version`, normally the process package's version. */
  readonly version: string;
  readonly env: Env;
  /** Where to report instrumentations that could not load (default: one JSON line on stderr). */
  readonly warn?: (message: string) => void;
}

export async function instrumentProcess(options: InstrumentProcessOptions): Promise<Telemetry> {
  const serviceName = SERVICE_NAMES[options.service];
  const warn = options.warn ?? ((message: string) => console.error(JSON.stringify({ level: 40, time: Date.now(), name: serviceName, msg: message })));
  if (readTelemetrySettings(options.env).mode === 'disabled') {
    return startTelemetry({ serviceName, serviceVersion: options.version, env: options.env });
  }
  const hooks = installModuleHooks();
  const telemetry = await startTelemetry({ serviceName, serviceVersion: options.version, env: options.env });
  await hooks.ready();
  for (const problem of telemetry.problems) warn(problem);
  return telemetry;
}

export interface ModuleHooks {
  /** Resolves once the instrumentations started after installModuleHooks() reached the ESM hook. */
  ready(): Promise<void>;
}

/**
 * Installs the module hooks instrumentation needs; call before startTelemetry (tests do the same
 * as instrumentProcess: installModuleHooks → startTelemetry → ready → import what they exercise).
 */
export function installModuleHooks(): ModuleHooks {
  pinOpenTelemetryApi();
  // ESM modules (the app's own imports of node:http, graphql, pg's ESM entry…) are patched through
  // import-in-the-middle; only the modules an instrumentation asked for are wrapped.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  return { ready: waitForAllMessagesAcknowledged };
}

let pinned = false;

/**
 * Makes every `@opentelemetry/api` import in the process resolve to the copy @votemesh/common
 * depends on. The API keeps its global state per copy-compatible version, and npm can hoist an
 * older copy (Apollo Gateway's OTel 1.x packages cap the API below 1.10, while the 0.300-line
 * instrumentations import `logs`, which only 1.10 exports). One copy means every library reports
 * into the one SDK started here. A no-op in effect once the tree has a single API copy.
 */
export function pinOpenTelemetryApi(): void {
  if (pinned) return;
  pinned = true;
  const parentURL = import.meta.url;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      return specifier === '@opentelemetry/api' ? nextResolve(specifier, { ...context, parentURL }) : nextResolve(specifier, context);
    },
  });
}
