// What a client sees of an error. Codes in the votemesh registry (common/src/errors.ts, which also
// lists the Apollo Server codes a client can meet) and subgraph errors (already masked by their
// subgraph) pass through with `serviceName` intact; anything else is INTERNAL, and in production
// its message is replaced: the log (operation-metrics.ts) and the trace keep the original.
import type { GraphQLFormattedError } from 'graphql';
import { isErrorCode } from '@votemesh/common/errors';

const INTERNAL_CODES = new Set(['INTERNAL', 'INTERNAL_SERVER_ERROR']);

export interface FormatErrorOptions {
  /** Hide internal messages and stack traces. @default false */
  readonly production: boolean;
}

export function isInternal(formatted: GraphQLFormattedError): boolean {
  const code = formatted.extensions?.['code'];
  if (typeof code !== 'string' || INTERNAL_CODES.has(code)) return true;
  if (isErrorCode(code)) return false;
  // A subgraph's own code: the subgraph decided the message is fit for clients.
  return typeof formatted.extensions?.['serviceName'] !== 'string';
}

export function createFormatError(options: FormatErrorOptions): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  return (formatted) => {
    if (!isInternal(formatted)) {
      // Expected errors (bad input, auth, limits) are not bugs: no stack trace, even in development.
      if (formatted.extensions?.['stacktrace'] === undefined) return formatted;
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions;
      return { ...formatted, extensions };
    }
    const serviceName = formatted.extensions?.['serviceName'];
    const extensions: Record<string, unknown> = { code: 'INTERNAL' };
    if (typeof serviceName === 'string') extensions['serviceName'] = serviceName;
    if (!options.production && formatted.extensions?.['stacktrace'] !== undefined) extensions['stacktrace'] = formatted.extensions['stacktrace'];
    return {
      message: options.production ? 'Internal error' : formatted.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions,
    };
  };
}
