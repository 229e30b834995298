// The one error registry. Every error votemesh reports to a client has an entry here: a stable
// code (GraphQL `extensions.code`), what it means, when it is raised, how it reaches a client of
// the gateway (a refused request's HTTP status, or HTTP 200 with the error in `errors[]` when it
// arises during execution, what subscription clients see) and its gRPC status. `docs/errors.md` is
// generated from this table (errors-markdown.ts, `npm run docs:errors`) and checked for drift in CI;
// e2e/test/error-statuses.test.ts provokes every reachable case through the gateway and checks its
// answer against the same entries, so the doc, the test and the code cannot drift apart.
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

/** A way the gateway refuses a whole request with this code before anything executes. */
export interface Refusal {
  /** The HTTP status of the refusal (the body is `{ errors: [...] }`, no `data`). */
  readonly status: number;
  readonly when: string;
}

/**
 * Who can see the code: `client` (a client of the gateway, and the e2e test provokes it), `subgraph`
 * (only whoever calls a subgraph directly, bypassing the gateway), `internal` (may reach a client,
 * but nothing a client sends can cause it).
 */
export type ErrorReach = 'client' | 'subgraph' | 'internal';

export interface ErrorSpec {
  /** What the code means. */
  readonly description: string;
  /**
   * Refusals before execution. The first one's status is the code's own (VotemeshError.httpStatus:
   * what the gateway answers when it refuses a request with this code); empty: never a refusal.
   */
  readonly refused: readonly Refusal[];
  /** When it arises during execution: the response is HTTP 200 with it in `errors[]`, beside whatever `data` resolved. */
  readonly duringExecution?: string;
  /** What graphql-ws and SSE/multipart subscription clients see, where it is not the general rule of docs/errors.md. */
  readonly subscriptions?: string;
  readonly grpc: number;
  readonly reach: ErrorReach;
}

export const ERRORS = {
  BAD_USER_INPUT: {
    description: 'An argument, a variable or the request itself is malformed.',
    refused: [
      {
        status: 400,
        when: 'A variable does not coerce to its declared type or a required one is missing; the POST body is empty or not JSON.',
      },
      { status: 404, when: 'A path the gateway does not serve (GraphQL is at /graphql).' },
      { status: 413, when: 'The body is larger than BODY_LIMIT_BYTES (`extensions.limitBytes`); the connection is closed after the answer.' },
    ],
    duringExecution:
      'A resolver refuses an argument: an id that is not a UUID, an empty or too long question or option, a bad cursor or `first`. `extensions.field` names the argument, `extensions.serviceName` the subgraph.',
    subscriptions: 'graphql-ws: a `subscribe` payload that is not an operation gets an `error` message for its id.',
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'client',
  },
  BAD_REQUEST: {
    description: 'The HTTP request cannot carry the operation as sent.',
    refused: [
      {
        status: 400,
        when: 'CSRF prevention blocks it (send `content-type: application/json`, or `apollo-require-preflight: true` with GET); a POST body without `query`; a subscription sent as a plain HTTP request, valid or not (the message names the transports that stream); an automatic persisted query whose `sha256Hash` does not match its `query`, or whose `persistedQuery.version` is not 1.',
      },
      {
        status: 405,
        when: 'A mutation sent with GET (over plain HTTP or a stream); /graphql called with a method other than GET, POST or OPTIONS (with `allow: GET, POST, OPTIONS`).',
      },
    ],
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'client',
  },
  GRAPHQL_PARSE_FAILED: {
    description: 'The GraphQL document is not valid GraphQL syntax.',
    refused: [{ status: 400, when: 'The document does not parse; `locations` points at the error.' }],
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'client',
  },
  GRAPHQL_VALIDATION_FAILED: {
    description: 'The GraphQL document does not validate against the schema, or operationName picks none of its operations.',
    refused: [
      {
        status: 400,
        when: 'An unknown field or argument, a wrong type; deeper than GRAPHQL_MAX_DEPTH or more aliases than GRAPHQL_MAX_ALIASES (`extensions.limit`, `max`, `actual`); introspection when GRAPHQL_INTROSPECTION is off; several operations and no operationName, or an operationName the document lacks; a document the query planner cannot plan.',
      },
    ],
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'client',
  },
  OPERATION_RESOLUTION_FAILURE: {
    description: "Apollo Server's code for an operation it cannot pick at execution.",
    refused: [],
    duringExecution:
      'Never sent by this gateway: an operationName the document lacks, or several operations and no operationName, are refused earlier with GRAPHQL_VALIDATION_FAILED. Listed so that, if Apollo ever raised it, it would pass through with its own code.',
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'internal',
  },
  PERSISTED_QUERY_NOT_FOUND: {
    description: "Apollo's automatic persisted queries: the gateway does not know the query of that hash yet.",
    refused: [
      {
        status: 200,
        when: 'A POST or GET with `extensions.persistedQuery` and no `query`, for a hash this gateway process has not stored. Not an HTTP error by design: the client (Apollo Client’s persisted-query link) sends the request again with `query`.',
      },
    ],
    grpc: GrpcStatus.NOT_FOUND,
    reach: 'client',
  },
  PERSISTED_QUERY_NOT_SUPPORTED: {
    description: "Apollo Server's code for a persisted query sent to a server with automatic persisted queries off.",
    refused: [],
    duringExecution:
      'Never sent by this gateway: automatic persisted queries are on (gateway/src/server.ts). Listed so that it would pass through with its own code if they were turned off.',
    grpc: GrpcStatus.UNIMPLEMENTED,
    reach: 'internal',
  },
  UNAUTHENTICATED: {
    description: 'The operation needs a verified caller and no bearer token was sent.',
    refused: [
      {
        status: 401,
        when: 'An anonymous operation selects an `@authenticated` or `@requiresScopes` field (`extensions.fields` lists them; fields switched off with @skip/@include do not count); any anonymous request when AUTH_REQUIRED_FOR_GRAPH is on; POST /auth/token with a wrong adminSecret. With `www-authenticate: Bearer`.',
      },
    ],
    subscriptions:
      'With AUTH_REQUIRED_FOR_GRAPH, graphql-ws closes an anonymous `connection_init` with 4403 (reason starts `UNAUTHENTICATED:`) and SSE/multipart answer 401 before the stream opens. A subscription selecting a protected field gets this error (a graphql-ws `error` message, one SSE/multipart event), @skip/@include or not.',
    grpc: GrpcStatus.UNAUTHENTICATED,
    reach: 'client',
  },
  TOKEN_INVALID: {
    description: 'The bearer token cannot be trusted.',
    refused: [
      {
        status: 401,
        when: 'A malformed token, a signature that does not verify against the JWKS, an unknown key id or algorithm, a role claim that is not voter or admin, an Authorization scheme other than Bearer, or any token while AUTH_MODE=none. With `www-authenticate: Bearer`.',
      },
    ],
    subscriptions:
      'graphql-ws: `connection_init` is answered by closing the socket with 4403 and the reason `TOKEN_INVALID: …`. SSE/multipart: 401 before the stream opens.',
    grpc: GrpcStatus.UNAUTHENTICATED,
    reach: 'client',
  },
  TOKEN_EXPIRED: {
    description: 'The bearer token has expired; get a new one.',
    refused: [{ status: 401, when: "The token's `exp` is past (beyond AUTH_CLOCK_TOLERANCE_SECONDS). With `www-authenticate: Bearer`." }],
    subscriptions:
      'At connection time as TOKEN_INVALID (graphql-ws close 4403 `TOKEN_EXPIRED: …`, SSE 401). When the token expires under an open subscription, graphql-ws closes with 4403 `Token expired`; an SSE/multipart stream gets one event with this error and completes.',
    grpc: GrpcStatus.UNAUTHENTICATED,
    reach: 'client',
  },
  TOKEN_WRONG_AUDIENCE: {
    description: 'The bearer token was issued for another audience or by another issuer.',
    refused: [{ status: 401, when: "The token's `aud` is not AUTH_AUDIENCE, or its `iss` is not AUTH_ISSUER. With `www-authenticate: Bearer`." }],
    subscriptions: 'As TOKEN_INVALID: graphql-ws close 4403 `TOKEN_WRONG_AUDIENCE: …`, SSE/multipart 401.',
    grpc: GrpcStatus.UNAUTHENTICATED,
    reach: 'client',
  },
  FORBIDDEN: {
    description:
      'The caller is verified but may not do this. (Subgraphs check the role again, but every field they guard carries `@requiresScopes`, so the gateway refuses first; a subgraph’s own FORBIDDEN would arrive with 200.)',
    refused: [
      {
        status: 403,
        when: 'The operation selects a `@requiresScopes` field (admin fields: createPoll, openPoll, closePoll, auditLog, verifyAuditLog, Poll.auditTrail, auditEvents) the caller has no scope for (`extensions.fields`); a CORS preflight from an Origin CORS_ORIGINS does not list; POST /auth/token with an adminSecret while admin tokens are disabled.',
      },
    ],
    grpc: GrpcStatus.PERMISSION_DENIED,
    reach: 'client',
  },
  IDENTITY_MISSING: {
    description: 'A subgraph was called without a valid identity forwarded by the gateway.',
    refused: [],
    duringExecution:
      'Only when a subgraph is called directly, not through the gateway, without an `x-votemesh-identity` it can verify (missing, forged or expired): in that subgraph’s own response. The gateway signs an identity into every call, and refuses anonymous callers of protected fields itself (UNAUTHENTICATED).',
    grpc: GrpcStatus.UNAUTHENTICATED,
    reach: 'subgraph',
  },
  POLL_NOT_FOUND: {
    description: 'No poll has that id.',
    refused: [],
    duringExecution: 'castVote on an unknown poll id (`Query.poll` answers `null` instead of an error).',
    subscriptions: 'pollStatus or pollResults on an unknown poll id: one result with this error and `data: null`, then the subscription completes.',
    grpc: GrpcStatus.NOT_FOUND,
    reach: 'client',
  },
  OPTION_NOT_IN_POLL: {
    description: 'The option id does not belong to the poll.',
    refused: [],
    duringExecution: 'castVote with an option of another poll.',
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'client',
  },
  POLL_NOT_OPEN: {
    description: 'The poll is not open for voting (still a draft, or closed).',
    refused: [],
    duringExecution: 'castVote on a DRAFT or CLOSED poll.',
    grpc: GrpcStatus.FAILED_PRECONDITION,
    reach: 'client',
  },
  POLL_STATE_CONFLICT: {
    description: 'The poll lifecycle change is not allowed from its current status.',
    refused: [],
    duringExecution: 'openPoll on a poll that is not DRAFT, closePoll on one that is not OPEN (`extensions.status` is the current one).',
    grpc: GrpcStatus.FAILED_PRECONDITION,
    reach: 'client',
  },
  RECEIPT_NOT_FOUND: {
    description: 'No vote receipt has that id (or it has expired).',
    refused: [],
    duringExecution: 'The voteReceipt query on an unknown or expired receipt id (`voteReceipt: null` beside the error).',
    subscriptions: 'The voteReceipt subscription on an unknown id: one result with this error, then it completes.',
    grpc: GrpcStatus.NOT_FOUND,
    reach: 'client',
  },
  RATE_LIMITED: {
    description: 'Too many requests from this client; retry after the indicated delay.',
    refused: [
      {
        status: 429,
        when: 'More than RATE_LIMIT_PER_MINUTE operations in the current minute from one caller (per token subject, else per address), or more than TOKEN_RATE_LIMIT_PER_MINUTE POST /auth/token from one address. With `retry-after` (and on /graphql `ratelimit-limit`, `ratelimit-remaining`, `extensions.retryAfterSeconds`).',
      },
    ],
    subscriptions:
      'A query or mutation sent over graphql-ws or a stream counts too; over it is refused like any other operation there. Starting a subscription does not count.',
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    reach: 'client',
  },
  TOO_MANY_SUBSCRIPTIONS: {
    description: 'The client holds the maximum number of subscription connections, or the connection the maximum number of operations.',
    refused: [
      { status: 429, when: 'An SSE or multipart stream while the client (token subject, else address) holds MAX_CONNECTIONS_PER_CLIENT sockets and streams.' },
    ],
    subscriptions:
      'graphql-ws: a `connection_init` past MAX_CONNECTIONS_PER_CLIENT closes the socket with 4429; a `subscribe` past MAX_SUBSCRIPTIONS_PER_CONNECTION gets an `error` message for its id.',
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    reach: 'client',
  },
  UPSTREAM_UNAVAILABLE: {
    description: 'A subgraph or internal service could not be reached; retry later.',
    refused: [
      {
        status: 503,
        when: "AUTH_MODE=oidc and the issuer's discovery document or JWKS cannot be fetched; a subscription stream requested while the gateway shuts down (a WebSocket upgrade then gets a bare 503).",
      },
    ],
    duringExecution:
      'A subgraph cannot be reached or does not answer within UPSTREAM_TIMEOUT_MS (`extensions.serviceName`): its fields are `null`, the rest of the operation resolves. The result subgraph cannot reach the tally service.',
    subscriptions:
      "A subscription's upstream that stays lost longer than UPSTREAM_RECONNECT_WINDOW_MS ends it with this error: a graphql-ws `error` message for its id; over SSE/multipart one event with the error, then the stream completes.",
    grpc: GrpcStatus.UNAVAILABLE,
    reach: 'client',
  },
  UPSTREAM_ERROR: {
    description: 'A subgraph or internal service answered, but not with a usable result; the message names it.',
    refused: [],
    duringExecution:
      'A subgraph answered a non-2xx status without a GraphQL error (`extensions.status`), or something other than JSON (`extensions.serviceName`); the tally service failed a call. Its fields are `null`, the rest resolves.',
    grpc: GrpcStatus.UNAVAILABLE,
    reach: 'client',
  },
  INVALID_MESSAGE: {
    description: 'An internal message (stream entry, pub/sub message, gRPC message) failed validation.',
    refused: [],
    duringExecution: 'The result subgraph got a tally reply it cannot read: a bug or a version skew between processes, nothing a client sends.',
    grpc: GrpcStatus.INVALID_ARGUMENT,
    reach: 'internal',
  },
  INTERNAL: {
    description: 'An unexpected error; details are in the logs and the trace, never in a production response (message `Internal error`).',
    refused: [{ status: 500, when: 'Something threw before execution that is not a registry error: a bug.' }],
    duringExecution:
      'A resolver or the gateway threw something that is not a registry error, or a subgraph answered an error without a code (`extensions.serviceName`): a bug.',
    grpc: GrpcStatus.INTERNAL,
    reach: 'internal',
  },
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

  /** The status the gateway answers when it refuses a request with this error (the code's first refusal; 500 for a code that is never one). */
  get httpStatus(): number {
    const spec: ErrorSpec = ERRORS[this.code];
    return spec.refused[0]?.status ?? 500;
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
