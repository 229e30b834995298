// OpenTelemetry reports its own trouble (an exporter that cannot reach the collector, a rejected
// batch, a dropped span queue) through its `diag` logger, which is a no-op until one is set: so a
// wrong OTEL_EXPORTER_OTLP_ENDPOINT lost every span in silence. routeDiagnostics sends its
// warnings and errors into the process's logger, marked component=opentelemetry.
import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';

export interface DiagnosticsLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Fields for one diag call: an Error argument becomes `err` (pino serialises it), the rest `args`. */
function fields(args: readonly unknown[]): Record<string, unknown> {
  const err = args.find((arg) => arg instanceof Error);
  const rest = args.filter((arg) => arg !== err);
  return { component: 'opentelemetry', ...(err === undefined ? {} : { err }), ...(rest.length === 0 ? {} : { args: rest }) };
}

/** Registers `logger` as OpenTelemetry's diag logger at WARN (warnings and errors; not its chatter). */
export function routeDiagnostics(logger: DiagnosticsLogger): void {
  const ignore = (): void => {};
  const adapter: DiagLogger = {
    error: (message, ...args) => logger.error(fields(args), message),
    warn: (message, ...args) => logger.warn(fields(args), message),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
  // suppressOverrideMessage: a test or a second call replaces the logger without a warning about it.
  diag.setLogger(adapter, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
