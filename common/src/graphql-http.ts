// Serves an Apollo Server through Node's own http module: the request becomes Apollo's
// transport-neutral HTTPGraphQLRequest, the response is streamed back as Apollo built it
// (complete or chunked for @defer/@stream). No framework, so every subgraph's server.ts stays one
// `createHttpServer` handler: probes first, then this.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import { isErrorCode, toVotemeshError } from './errors.ts';
import { readBody, searchOf, sendJson } from './http-server.ts';

export interface GraphQLHttpHandlerOptions<TContext extends BaseContext> {
  /** A started server (`await server.start()`). */
  readonly server: ApolloServer<TContext>;
  /** Builds the per-request context; a thrown VotemeshError is answered with its code. */
  readonly context: (req: IncomingMessage) => Promise<TContext>;
  /** @default '/graphql' */
  readonly path?: string;
  /** Larger bodies are refused with 413. @default 1_048_576 */
  readonly maxBodyBytes?: number;
}

/** Handles requests for the GraphQL path and returns true, or returns false for the caller. */
export type GraphQLHttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export function createGraphQLHttpHandler<TContext extends BaseContext>(options: GraphQLHttpHandlerOptions<TContext>): GraphQLHttpHandler {
  const path = options.path ?? '/graphql';
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;

  return async (req, res) => {
    const rawUrl = req.url ?? '/';
    // The usual `/graphql` or `/graphql?…` needs no URL object; anything else is normalised by one.
    const pathname = rawUrl === path || rawUrl.startsWith(`${path}?`) ? path : new URL(rawUrl, 'http://localhost').pathname;
    if (pathname !== path) return false;

    const headers = new HeaderMap();
    for (const name in req.headers) {
      const value = req.headers[name];
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }

    let body: unknown;
    if (req.method === 'POST') {
      let text: string;
      try {
        text = await readBody(req, maxBodyBytes);
      } catch {
        sendError(res, 413, 'BAD_USER_INPUT', `Request body exceeds ${maxBodyBytes} bytes`);
        return true;
      }
      if (isJsonContentType(headers.get('content-type'))) {
        try {
          body = text === '' ? {} : JSON.parse(text);
        } catch {
          sendError(res, 400, 'BAD_USER_INPUT', 'Request body is not valid JSON');
          return true;
        }
      } else {
        body = text;
      }
    }

    const response = await options.server.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: searchOf(rawUrl), body },
      context: () => options.context(req),
    });

    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return true;
    }
    for await (const chunk of response.body.asyncIterator) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
    return true;
  };
}

export interface ErrorFormatterLogger {
  error(obj: object, msg: string): void;
}

/**
 * Apollo `formatError`: registry errors and GraphQL's own request errors pass as they are; anything
 * else is logged with its cause and answered as INTERNAL without internals.
 */
export function createGraphQLErrorFormatter(logger: ErrorFormatterLogger): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  return (formatted, error) => {
    const code = formatted.extensions?.['code'];
    // Registry codes and Apollo's request-level codes (GRAPHQL_VALIDATION_FAILED, BAD_REQUEST, …).
    const known = (isErrorCode(code) || typeof code === 'string') && code !== 'INTERNAL' && code !== 'INTERNAL_SERVER_ERROR';
    if (known) return formatted;
    const normalised = toVotemeshError(unwrapOriginal(error));
    logger.error({ err: normalised.cause ?? normalised, path: formatted.path }, 'unexpected error in a GraphQL operation');
    return {
      message: 'Internal error',
      extensions: { code: 'INTERNAL' },
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
    };
  };
}

function unwrapOriginal(error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'originalError' in error && error.originalError) return error.originalError;
  return error;
}

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}
