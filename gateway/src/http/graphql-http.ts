// The gateway's GraphQL-over-HTTP adapter: Node http → Apollo Server's executeHTTPGraphQLRequest.
// In order: authenticate (a bad token is refused here, before any work), admit (identity required,
// rate limit per client: limits/operation-guard.ts),
// read the body under the size limit, then execute with the GatewayContext. Refusals use the
// GraphQL error shape with the registry's HTTP status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type HTTPGraphQLRequest } from '@apollo/server';
import { VotemeshError, toVotemeshError } from '@votemesh/common/errors';
import { searchOf } from '@votemesh/common/http-server';
import type { GatewayContext, TraceHeaderName } from '../gateway-context.ts';
import type { VerifiedIdentity } from '../auth/verify-token.ts';
import type { OperationGuard } from '../limits/operation-guard.ts';
import { subscriptionOverHttpRefusal } from '../graphql/operation-resolution-plugin.ts';
import { requestsSubscription } from '../graphql/select-operation.ts';
import { BodyTooLargeError, readLimitedBody, sendBodyTooLarge, sendError } from './respond.ts';

export interface GraphQLHttpOptions {
  readonly apollo: ApolloServer<GatewayContext>;
  /** Verifies the request's bearer token; undefined when there is none. Throws VotemeshError. */
  readonly authenticate: (req: IncomingMessage) => Promise<VerifiedIdentity | undefined>;
  /** AUTH_REQUIRED_FOR_GRAPH and the rate limit: the same admission as operations on sockets and streams. */
  readonly guard: OperationGuard;
  readonly clientKey: (req: IncomingMessage, identity: VerifiedIdentity | undefined) => string;
  /** Largest accepted request body. @default 1048576 */
  readonly bodyLimitBytes?: number;
  /** Called for requests refused before execution, with the error code (metrics). */
  readonly onRejected?: (code: string, seconds: number) => void;
  /** Whether subscription transports are plugged in (the refusal of a subscription says where to go). */
  readonly subscriptionsServed: boolean;
}

/** `preRead`: the POST body when the router already read it (http/graphql-route.ts). */
export type GraphQLHttpHandler = (req: IncomingMessage, res: ServerResponse, requestId: string, preRead?: string) => Promise<void>;

const TRACE_HEADERS: readonly TraceHeaderName[] = ['traceparent', 'tracestate', 'baggage'];
/**
 * The methods /graphql answers (its `Allow`, and what CORS lets a page use: server.ts). Apollo
 * Server says the same for other methods (405, BAD_REQUEST), minus OPTIONS.
 */
export const GRAPHQL_METHODS: readonly string[] = Object.freeze(['GET', 'POST', 'OPTIONS']);
const ALLOWED_METHODS = GRAPHQL_METHODS.join(', ');

export function createGraphQLHttpHandler(options: GraphQLHttpOptions): GraphQLHttpHandler {
  const bodyLimit = options.bodyLimitBytes ?? 1_048_576;
  return async (req, res, requestId, preRead) => {
    const started = performance.now();
    const reject = (code: string, send: () => void): void => {
      options.onRejected?.(code, (performance.now() - started) / 1000);
      send();
    };
    if (req.method === 'OPTIONS') {
      // A plain OPTIONS (CORS preflights were answered before, http/cors.ts) asks what /graphql allows.
      res.writeHead(204, { allow: ALLOWED_METHODS });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      const refusal = new VotemeshError('BAD_REQUEST', `Method ${req.method ?? '?'} is not allowed on /graphql: use POST, or GET (not for mutations)`);
      reject(refusal.code, () => sendError(res, refusal, { allow: ALLOWED_METHODS }, 405));
      return;
    }
    let identity: VerifiedIdentity | undefined;
    try {
      identity = await options.authenticate(req);
    } catch (error) {
      const refusal = toVotemeshError(error);
      reject(refusal.code, () => sendError(res, refusal));
      return;
    }
    const admission = await options.guard.admit(identity, options.clientKey(req, identity));
    if (!admission.admitted) {
      reject(admission.error.code, () => sendError(res, admission.error, admission.headers));
      return;
    }

    let body: unknown;
    try {
      body = req.method === 'POST' ? parseBody(preRead ?? (await readLimitedBody(req, bodyLimit)), req.headers['content-type']) : undefined;
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        reject('BAD_USER_INPUT', () => sendBodyTooLarge(res, error));
      } else {
        const refusal = toVotemeshError(error);
        reject(refusal.code, () => sendError(res, refusal));
      }
      return;
    }

    // Apollo Server would validate a subscription before our plugin refuses it, and graphql-js 16's
    // validation throws on some (`@include(if: $x)` on the root field: a 500). None runs over plain
    // HTTP, so none goes in: the same 400 for all of them, saying where subscriptions are served.
    const search = searchOf(req.url ?? '/');
    if (requestsSubscription(req.method, body, search)) {
      const refusal = subscriptionOverHttpRefusal(options.subscriptionsServed);
      reject(refusal.code, () => sendError(res, refusal));
      return;
    }

    const headers = new HeaderMap();
    for (const name in req.headers) {
      const value = req.headers[name];
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const httpGraphQLRequest: HTTPGraphQLRequest = { method: req.method, headers, search, body };
    const traceHeaders: Partial<Record<TraceHeaderName, string>> = {};
    for (const name of TRACE_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') traceHeaders[name] = value;
    }
    const context: GatewayContext = { identity, requestId, traceHeaders };
    const response = await options.apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: async () => context });

    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
}

/** JSON bodies only (what GraphQL over HTTP requires of POST); a bad one is BAD_USER_INPUT. */
function parseBody(text: string, contentType: string | undefined): unknown {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json' && type !== 'application/graphql-response+json') {
    // Apollo's CSRF prevention answers these with a clear message; hand it the raw text.
    return text;
  }
  if (text.trim() === '') throw new VotemeshError('BAD_USER_INPUT', 'The POST body is empty; send {"query": "..."}');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new VotemeshError('BAD_USER_INPUT', `The POST body is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
