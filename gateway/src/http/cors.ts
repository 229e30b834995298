// CORS for the routes a browser app calls: /graphql (every transport on it: POST, GET, SSE and
// multipart streams), POST /auth/token and the dev issuer's /.well-known documents. Each route
// allows the methods it answers and no others. The web app is served from another origin, so without these headers a browser lets it
// read no answer at all.
//
// Auth is a bearer token in `Authorization`, never a cookie: no route allows credentials, and the
// default `*` (what Apollo Server's standalone server does) lets a page do nothing it could not
// already do with a token it holds. CORS_ORIGINS narrows it to exact origins (docs/configuration.md).
//
// A small module rather than the `cors` package: cors answers every preflight 204, allowed origin
// or not (the browser then reports a missing header instead of why), and the policy here is one
// fixed list of methods per route and one of headers, a few lines of header writing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VotemeshError } from '@votemesh/common/errors';
import { REQUEST_ID_HEADER } from '@votemesh/common/telemetry/names';
import { sendError } from './respond.ts';

/** `*` for any origin, or exact origins as browsers send them (`https://app.example.com:8443`). */
export type CorsOrigins = '*' | readonly string[];

export interface CorsOptions {
  /** CORS_ORIGINS. @default '*' */
  readonly origins: CorsOrigins;
  /** Path → the methods a browser may use on it; other paths get no CORS headers. */
  readonly routes: Readonly<Record<string, readonly string[]>>;
  /** How long a browser may reuse a preflight answer. @default 7200 (Chromium's cap) */
  readonly maxAgeSeconds?: number;
}

/**
 * Request headers a browser client may send: JSON bodies, the bearer token, Apollo's CSRF
 * preflight headers and client awareness, `accept` (Apollo Client's multipart subscription value
 * has quotes, which makes it a non-safelisted header), graphql-sse's stream token, W3C trace
 * context and our request id.
 */
export const CORS_ALLOWED_HEADERS: readonly string[] = Object.freeze([
  'accept',
  'content-type',
  'authorization',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'apollographql-client-name',
  'apollographql-client-version',
  'x-graphql-event-stream-token',
  'traceparent',
  'tracestate',
  'baggage',
  REQUEST_ID_HEADER,
]);

/** Response headers a page may read besides the safelisted ones: the request id to quote in a bug
 * report, when to retry after 429, the rate limit, and what a 401 wants. */
export const CORS_EXPOSED_HEADERS: readonly string[] = Object.freeze([
  REQUEST_ID_HEADER,
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'www-authenticate',
]);

/**
 * Adds the CORS headers of the request's route to `res` and returns false for the route handler to
 * go on, or answers a preflight (204, or 403 for an origin CORS_ORIGINS does not list) and returns true.
 */
export type CorsHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function createCors(options: CorsOptions): CorsHandler {
  const { origins, routes } = options;
  const allowedHeaders = CORS_ALLOWED_HEADERS.join(', ');
  const exposedHeaders = CORS_EXPOSED_HEADERS.join(', ');
  const maxAge = String(options.maxAgeSeconds ?? 7200);
  const listed = origins === '*' ? undefined : new Set(origins);

  return (req, res) => {
    const methods = routes[(req.url ?? '/').split('?')[0] ?? '/'];
    if (!methods) return false;
    const origin = req.headers.origin;
    // With a list the answer depends on Origin: caches must keep one copy per origin.
    if (listed) res.setHeader('vary', 'Origin');
    const allowed = listed === undefined || (origin !== undefined && listed.has(origin));
    if (allowed) {
      res.setHeader('access-control-allow-origin', listed === undefined ? '*' : (origin ?? ''));
      res.setHeader('access-control-expose-headers', exposedHeaders);
    }
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (!preflight) return false;
    if (!allowed) {
      sendError(res, new VotemeshError('FORBIDDEN', `Origin ${origin} may not call this gateway from a browser: it is not in CORS_ORIGINS`), {
        'cache-control': 'no-store',
      });
      return true;
    }
    res.writeHead(204, {
      'access-control-allow-methods': methods.join(', '),
      'access-control-allow-headers': allowedHeaders,
      'access-control-max-age': maxAge,
    });
    res.end();
    return true;
  };
}
