// Structured JSON logs (pino) with the active trace and span id on every line, pretty-printed when
// a person is watching a terminal. Tokens and credentials are redacted wherever they appear.
import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.headers.authorization',
  'connectionParams.authorization',
  '*.connectionParams.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'adminSecret',
  '*.adminSecret',
  // The gateway-forwarded identity JWT (contracts/identity.ts) and session cookies.
  'headers["x-votemesh-identity"]',
  '*.headers["x-votemesh-identity"]',
  'connectionParams.identity',
  '*.connectionParams.identity',
  'headers.cookie',
  '*.headers.cookie',
];

export interface LoggerOptions {
  service: string;
  level?: string;
  pretty?: boolean;
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    name: options.service,
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };
  if (options.pretty && !options.destination) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
