// Loads Prisma's schema engine compiled to WebAssembly and connects it to PostgreSQL through our
// driver-adapter factory. The 7.x CLI only drives a native engine binary, which it downloads on first
// use; this path needs neither network nor binaries.
import { readFile } from 'node:fs/promises';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import { createMigrationAdapterFactory } from './migration-adapter-factory.ts';

export type { SchemaEngine };

export interface MigrationLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface SchemaEngineSession extends AsyncDisposable {
  readonly engine: SchemaEngine;
}

export interface OpenSchemaEngineOptions {
  databaseUrl: string;
  logger?: MigrationLogger;
}

/**
 * The slice of the WebAssembly global we use. The repo's tsconfig has no DOM lib and @types/node
 * does not declare WebAssembly, so we type what we need and read the global once.
 */
interface WebAssemblyApi {
  instantiate(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>): Promise<{ instance: { exports: Record<string, unknown> } }>;
  RuntimeError: abstract new (...args: never[]) => Error;
}
const webAssembly: WebAssemblyApi = Reflect.get(globalThis, 'WebAssembly');

let engineClass: Promise<typeof engineBindings.SchemaEngine> | undefined;
let lastPanicMessage: string | undefined;

/**
 * The package's own entry imports the .wasm file as an ES module, which Node only supports behind a
 * flag; so we instantiate it from the bytes and hand the instance to the JS bindings, once per process.
 */
function loadSchemaEngineClass(): Promise<typeof engineBindings.SchemaEngine> {
  engineClass ??= (async () => {
    // The engine reports Rust panics through this global; without it a panic loses its reason.
    if (!Reflect.has(globalThis, 'PRISMA_WASM_PANIC_REGISTRY')) {
      Reflect.set(globalThis, 'PRISMA_WASM_PANIC_REGISTRY', {
        set_message: (message: string) => {
          lastPanicMessage = message;
        },
      });
    }
    const wasmUrl = new URL('./schema_engine_bg.wasm', import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const { instance } = await webAssembly.instantiate(await readFile(wasmUrl), {
      './schema_engine_bg.js': withUnrefTimers(engineBindings),
    });
    engineBindings.__wbg_set_wasm(instance.exports);
    const start = instance.exports['__wbindgen_start'];
    if (typeof start !== 'function') throw new Error(`${wasmUrl.pathname} exports no __wbindgen_start`);
    start();
    return engineBindings.SchemaEngine;
  })();
  return engineClass;
}

/**
 * The engine arms timers it never cancels (e.g. a 10 s advisory-lock timeout that stays pending after
 * the lock was taken), which would keep a finished CLI or test process alive for 10 s. Unref'd
 * timers still fire while the process has other work, and no longer hold it open on their own.
 */
function withUnrefTimers(bindings: Record<string, unknown>): Record<string, unknown> {
  const patched: Record<string, unknown> = { ...bindings };
  for (const name of Object.keys(patched)) {
    if (name.startsWith('__wbg_setTimeout_')) {
      patched[name] = (callback: () => void, delayMs: number) => setTimeout(callback, delayMs >>> 0).unref();
    }
  }
  return patched;
}

export async function openSchemaEngine(options: OpenSchemaEngineOptions): Promise<SchemaEngineSession> {
  const SchemaEngineClass = await loadSchemaEngineClass();
  const factory = createMigrationAdapterFactory(options.databaseUrl);
  let engine: SchemaEngine;
  try {
    // No datamodels: every command we use gets its schema and migrations as arguments.
    engine = await SchemaEngineClass.new(
      { datamodels: undefined },
      (line: string) => forwardEngineLog(line, options.logger),
      bindMigrationAwareSqlAdapterFactory(factory),
    );
  } catch (error) {
    await factory[Symbol.asyncDispose]();
    throw error;
  }
  return {
    engine,
    async [Symbol.asyncDispose]() {
      try {
        engine.free();
      } finally {
        await factory[Symbol.asyncDispose]();
      }
    },
  };
}

/**
 * Runs `command` with a fresh engine and always releases the engine and every pool it opened.
 * Engine failures are rethrown as errors that start with `action` and carry the engine's message.
 */
export async function runWithSchemaEngine<T>(action: string, options: OpenSchemaEngineOptions, command: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  try {
    await using session = await openSchemaEngine(options);
    return await command(session.engine);
  } catch (error) {
    throw new Error(`${action} failed: ${describeEngineError(error)}`, { cause: error });
  }
}

function describeEngineError(error: unknown): string {
  if (error instanceof webAssembly.RuntimeError) {
    // After a panic the wasm instance is unusable: load a fresh one next time.
    engineClass = undefined;
    const reason = lastPanicMessage ?? error.message;
    lastPanicMessage = undefined;
    return `the schema engine panicked: ${reason}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Engine errors end with a span trace ("   0: schema_engine_wasm::...") that only helps engine devs.
  const traceStart = message.search(/\n\s+0: /);
  return (traceStart === -1 ? message : message.slice(0, traceStart)).trim();
}

// The engine logs JSON lines ({"level":"INFO","fields":{"message":...}}); only warnings and errors
// matter to a caller, the rest is engine chatter.
function forwardEngineLog(line: string, logger: MigrationLogger | undefined): void {
  if (logger === undefined) return;
  let level = 'INFO';
  let message = line;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) {
      if ('level' in parsed && typeof parsed.level === 'string') level = parsed.level;
      if ('fields' in parsed && typeof parsed.fields === 'object' && parsed.fields !== null) {
        const fields = parsed.fields;
        if ('message' in fields && typeof fields.message === 'string') message = fields.message;
      }
    }
  } catch {
    // Not JSON: pass it on as is.
  }
  if (level === 'WARN' || level === 'ERROR') logger.warn(`schema engine: ${message}`);
}
