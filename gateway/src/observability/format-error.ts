// What a client sees of an error. Codes in the votemesh registry (common/src/errors.ts, which also
// lists the Apollo Server codes a client can meet) and subgraph errors (already masked by their
// subgraph) pass through with `serviceName` intact; anything else is INTERNAL, and in production
// its message is replaced: the log (operation-metrics.ts) and the trace keep the original.
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isErrorCode } from '@votemesh/common/errors';

const INTERNAL_CODES = new Set(['INTERNAL', 'INTERNAL_SERVER_ERROR']);

/**
 * Apollo Server refuses a few requests with an HTTP 4xx status but no code, which its formatting
 * turns into INTERNAL_SERVER_ERROR: the client's mistake would read as our bug (and be masked in
 * production). Today these are automatic persisted queries' own checks; the clearer words say what
 * to fix. A codeless 4xx not listed keeps Apollo's message.
 */
const APOLLO_CODELESS_REFUSALS: Readonly<Record<string, string>> = {
  'provided sha does not match query':
    'extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent: hash the exact query text (hex, lower case) or leave the extension out',
  'Unsupported persisted query version': 'extensions.persistedQuery.version must be 1 (automatic persisted queries)',
};

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
  return (formatted, error) => {
    const refusal = apolloCodelessRefusal(error);
    if (refusal !== undefined) return { message: APOLLO_CODELESS_REFUSALS[refusal] ?? refusal, extensions: { code: 'BAD_REQUEST' } };
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

/** The message of an Apollo Server refusal that has a 4xx HTTP status and no code, else undefined. */
export function apolloCodelessRefusal(error: unknown): string | undefined {
  if (!(error instanceof GraphQLError) || error.extensions['code'] !== undefined) return undefined;
  const http = error.extensions['http'];
  const status = typeof http === 'object' && http !== null && 'status' in http ? http.status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? error.message : undefined;
}
