// Which transport answers a /graphql request: the GraphQL-over-HTTP handler (one JSON response:
// real status codes, the HTTP body limit, Apollo's GET/CSRF rules, no stream slot) or the
// subscription streams (SSE, multipart).
//
//   - The client cannot read a stream (no stream type in Accept): HTTP.
//   - The client can read only a stream (graphql-sse, EventSource): the streams, whatever the
//     operation; they run queries and mutations once and end (graphql-sse's distinct connections).
//   - The client can read both (urql, Apollo Client send both on every request): the operation
//     decides. A subscription streams; a query or a mutation gets the normal HTTP answer. Before,
//     any mention of text/event-stream took the stream: every urql query held one of the client's
//     stream slots (429 past 20), got the 64 KiB stream body limit and always status 200, and a GET
//     mutation ran. To know the operation the POST body is read here (under the HTTP limit) and
//     handed to whichever handler answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { searchOf } from '@votemesh/common/http-server';
import { requestsSubscription } from '../graphql/select-operation.ts';
import { acceptedMedia } from './accept.ts';
import { BodyTooLargeError, readLimitedBody, sendBodyTooLarge } from './respond.ts';

export interface GraphQLRouteOptions {
  /** The GraphQL-over-HTTP handler (graphql-http.ts); `body`: the POST body, when already read. */
  readonly http: (req: IncomingMessage, res: ServerResponse, requestId: string, body?: string) => Promise<void>;
  /** The subscription streams (SubscriptionTransport.handleSse); false passes the request to `http`. */
  readonly streams: ((req: IncomingMessage, res: ServerResponse, body?: string) => Promise<boolean>) | undefined;
  /** The HTTP body limit (BODY_LIMIT_BYTES); the streams apply their own, smaller one. */
  readonly bodyLimitBytes: number;
}

export type GraphQLRoute = (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void>;

export function createGraphQLRoute(options: GraphQLRouteOptions): GraphQLRoute {
  const { http, streams } = options;
  return async (req, res, requestId) => {
    const accepted = acceptedMedia(req.headers.accept);
    // Other methods (OPTIONS, PUT, …) get one answer whatever the client reads: the HTTP handler's.
    const streamable = req.method === 'GET' || req.method === 'POST';
    if (!streams || accepted.stream === undefined || !streamable) return http(req, res, requestId);
    if (!accepted.json) {
      if (!(await streams(req, res))) await http(req, res, requestId);
      return;
    }
    if (req.method === 'GET') {
      if (requestsSubscription('GET', undefined, searchOf(req.url ?? '/')) && (await streams(req, res))) return;
      return http(req, res, requestId);
    }
    let body: string;
    try {
      body = await readLimitedBody(req, options.bodyLimitBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) sendBodyTooLarge(res, error);
      else res.destroy(); // the client went away mid-body: nobody to answer
      return;
    }
    if (requestsSubscription('POST', parsedJson(body), '') && (await streams(req, res, body))) return;
    await http(req, res, requestId, body);
  };
}

/** The body parsed as JSON, or undefined (the handler that answers says what is wrong with it). */
function parsedJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
