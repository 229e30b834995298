// The one error registry. Every error votemesh reports to a client has an entry here: a stable
// code (GraphQL `extensions.code`), what it means, and how it maps to HTTP and gRPC. `docs/errors.md`
// is generated from this table (`npm run docs:errors`) and checked for drift in CI.
import { GraphQLError } from 'graphql';

/** gRPC status codes used below (from grpc/status.proto), kept here so common needs no grpc dep. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface ErrorSpec {
  readonly description: string;
  readonly http: number;
  readonly grpc: number;
}

export const ERRORS = {
  BAD_USER_INPUT: { description: 'An argument or variable is malformed (wrong type, empty, too long, bad id).', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  BAD_REQUEST: {
    description:
      'The HTTP request cannot carry the operation as sent: a subscription as a plain HTTP request, a mutation over GET, or a request CSRF prevention blocks (send Content-Type: application/json, or apollo-require-preflight: true with GET).',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
  },
  GRAPHQL_VALIDATION_FAILED: {
    description: 'The GraphQL document does not validate against the schema, or operationName picks none of its operations.',
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
  },
  GRAPHQL_PARSE_FAILED: { description: 'The GraphQL document is not valid GraphQL syntax.', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  OPERATION_RESOLUTION_FAILURE: {
    description: "Apollo Server's code for an operation it cannot pick at execution; the gateway refuses such requests earlier with GRAPHQL_VALIDATION_FAILED.",
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
  },
  PERSISTED_QUERY_NOT_FOUND: {
    description:
      'Automatic persisted queries: the server holds no query for this sha256Hash (yet); send the request again with the query. HTTP 200, as Apollo Server answers it, so APQ clients retry.',
    http: 200,
    grpc: GrpcStatus.NOT_FOUND,
  },
  PERSISTED_QUERY_NOT_SUPPORTED: {
    description:
      "Apollo Server's code for a persisted query sent to a server with automatic persisted queries off (votemesh's servers keep them on); send the query.",
    http: 200,
    grpc: GrpcStatus.UNIMPLEMENTED,
  },
  UNAUTHENTICATED: { description: 'No bearer token was sent, but the operation needs one.', http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  TOKEN_INVALID: {
    description: 'The bearer token is malformed or its signature does not verify against the JWKS.',
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
  },
  TOKEN_EXPIRED: { description: 'The bearer token has expired; get a new one.', http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  TOKEN_WRONG_AUDIENCE: { description: 'The bearer token was issued for another audience or by another issuer.', http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  FORBIDDEN: {
    description: 'The caller is authenticated but lacks the role the operation requires, or (a browser preflight) its Origin is not in CORS_ORIGINS.',
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
  },
  IDENTITY_MISSING: { description: 'A subgraph was called without a valid identity forwarded by the gateway.', http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  POLL_NOT_FOUND: { description: 'No poll has that id.', http: 404, grpc: GrpcStatus.NOT_FOUND },
  OPTION_NOT_IN_POLL: { description: 'The option id does not belong to the poll.', http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  POLL_NOT_OPEN: { description: 'The poll is not open for voting (still a draft, or closed).', http: 409, grpc: GrpcStatus.FAILED_PRECONDITION },
  POLL_STATE_CONFLICT: { description: 'The poll lifecycle change is not allowed from its current status.', http: 409, grpc: GrpcStatus.FAILED_PRECONDITION },
  RECEIPT_NOT_FOUND: { description: 'No vote receipt has that id (or it has expired).', http: 404, grpc: GrpcStatus.NOT_FOUND },
  RATE_LIMITED: { description: 'Too many requests from this client; retry after the indicated delay.', http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  TOO_MANY_SUBSCRIPTIONS: {
    description: 'The connection or client holds the maximum number of subscriptions or connections.',
    http: 429,
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
  },
  UPSTREAM_UNAVAILABLE: { description: 'A subgraph or internal service could not be reached; retry later.', http: 503, grpc: GrpcStatus.UNAVAILABLE },
  UPSTREAM_ERROR: { description: 'A subgraph answered with an error; the message names the subgraph.', http: 502, grpc: GrpcStatus.UNAVAILABLE },
  INVALID_MESSAGE: {
    description: 'An internal message (stream entry, pub/sub message, gRPC message) failed validation.',
    http: 500,
    grpc: GrpcStatus.INVALID_ARGUMENT,
  },
  INTERNAL: { description: 'An unexpected error; details are in the logs and the trace, never in the response.', http: 500, grpc: GrpcStatus.INTERNAL },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error type. It is a GraphQLError so resolvers can throw it and clients see the code. */
export class VotemeshError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, {
      extensions: { code, ...options.details },
      ...(options.cause instanceof Error ? { originalError: options.cause } : {}),
    });
    this.name = 'VotemeshError';
    this.code = code;
    if (options.cause !== undefined) this.cause = options.cause;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }

  get grpcStatus(): number {
    return ERRORS[this.code].grpc;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** Normalises anything thrown into a VotemeshError, keeping the original as `cause`. */
export function toVotemeshError(error: unknown): VotemeshError {
  if (error instanceof VotemeshError) return error;
  if (error instanceof GraphQLError && isErrorCode(error.extensions['code'])) {
    return new VotemeshError(error.extensions['code'], error.message, { cause: error });
  }
  return new VotemeshError('INTERNAL', 'Internal error', { cause: error });
}

/** Renders the registry as Markdown; `docs/errors.md` is this output. */
export function renderErrorsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(([code, spec]) => `| \`${code}\` | ${spec.description} | ${spec.http} | ${spec.grpc} |`);
  return [
    '# Errors',
    '',
    'Generated from `common/src/errors.ts` by `npm run docs:errors`; do not edit by hand.',
    'Every error a client sees carries one of these codes in `extensions.code`.',
    '',
    '| code | meaning | HTTP | gRPC |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
