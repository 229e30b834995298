// Subscriptions over plain HTTP responses: graphql-sse "distinct connections" mode
// (`Accept: text/event-stream`, GET or POST; `event: next` / `event: complete`) and Apollo Client's
// multipart HTTP subscriptions (`Accept: multipart/mixed;subscriptionSpec="1.0"`). One response
// carries one operation; closing it unsubscribes. Auth is the `Authorization: Bearer` header.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@votemesh/common/http-server';
import { VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import type { GraphQLFormattedError } from 'graphql';
import { bearerToken } from '../auth/verify-token.ts';
import { identityRequiredError } from '../limits/operation-guard.ts';
import { clientKeyOf } from '../http/client.ts';
import { acceptedMedia, type StreamMode } from '../http/accept.ts';
import { challengeHeaders } from '../http/challenge.ts';
import { BodyTooLargeError, readLimitedBody, sendBodyTooLarge } from '../http/respond.ts';
import type { ClientAddress, ClientLimiter } from './client-limiter.ts';
import { parseOperationRequest, type AuthenticatedCaller, type OperationRequest, type OperationStarter } from './operations.ts';
import { firstKeepAliveAt, housekeepingTickMs } from './keepalive.ts';
import { overflowsBuffer, type SubscriptionLimits } from './options.ts';
import { outgoing, type OutgoingResult } from './outgoing-result.ts';
import type { SubscriberSink } from './subscription-hub.ts';

interface Stream {
  readonly res: ServerResponse;
  readonly mode: StreamMode;
  readonly expiresAtMs: number | undefined;
  /** When this stream gets its next heartbeat (keepalive.ts: deadlines of their own, never all at once). */
  nextBeatAt: number;
  readonly sink: SubscriberSink;
  /** Binds the running subscription; stops it at once if the stream already ended. */
  attach(unsubscribe: () => void): void;
  /** Ends the stream: stops the operation and frees the client's slot. */
  finish(): void;
}

export interface HttpStreamAdapterOptions {
  readonly starter: OperationStarter;
  readonly authenticate: (token?: string) => Promise<AuthenticatedCaller | undefined>;
  readonly limiter: ClientLimiter;
  readonly clientAddress: ClientAddress;
  /** Refuse anonymous callers (AUTH_REQUIRED_FOR_GRAPH), with HTTP's UNAUTHENTICATED. */
  readonly requireIdentity: boolean;
  readonly limits: SubscriptionLimits;
  readonly logger: Logger;
  readonly onSlowConsumer: () => void;
}

export interface HttpStreamAdapter {
  /** Serves the request if it asks for an event stream or multipart subscription; else false.
   * `preRead`: the POST body, when the gateway's router already read it. */
  handle(req: IncomingMessage, res: ServerResponse, preRead?: string): Promise<boolean>;
  streamCount(): number;
  /** New streams get 503 from now on; the open ones carry on. */
  stopAccepting(): void;
  close(): Promise<void>;
}

const BOUNDARY = 'graphql';
const MULTIPART_PART = `\r\ncontent-type: application/json; charset=utf-8\r\n\r\n`;
const SSE_PREFIX = Buffer.from('event: next\ndata: ');
const SSE_SUFFIX = Buffer.from('\n\n');
const MULTIPART_PREFIX = Buffer.from(`${MULTIPART_PART}{"payload":`);
const MULTIPART_SUFFIX = Buffer.from(`}\r\n--${BOUNDARY}`);

export function createHttpStreamAdapter(options: HttpStreamAdapterOptions): HttpStreamAdapter {
  const { limits, logger } = options;
  const streams = new Set<Stream>();
  let accepting = true;
  const ticker = setInterval(housekeeping, housekeepingTickMs(limits.keepAliveMs / 20));
  ticker.unref();

  function housekeeping(): void {
    const now = Date.now();
    for (const stream of streams) {
      if (stream.expiresAtMs !== undefined && stream.expiresAtMs <= now) {
        stream.sink.error([new VotemeshError('TOKEN_EXPIRED', 'The bearer token has expired; subscribe again with a new one').toJSON()]);
      } else if (stream.nextBeatAt <= now) {
        stream.nextBeatAt = now + limits.keepAliveMs;
        stream.res.write(stream.mode === 'sse' ? ':\n\n' : `${MULTIPART_PART}{}\r\n--${BOUNDARY}`);
      }
    }
  }

  function frame(mode: StreamMode, serialized: string): string {
    return mode === 'sse' ? `event: next\ndata: ${serialized}\n\n` : `${MULTIPART_PART}{"payload":${serialized}}\r\n--${BOUNDARY}`;
  }
  /** Built once per result and mode, shared by every stream of that mode. */
  const frameBytes = {
    sse: (result: OutgoingResult) => Buffer.concat([SSE_PREFIX, result.bytes, SSE_SUFFIX]),
    multipart: (result: OutgoingResult) => Buffer.concat([MULTIPART_PREFIX, result.bytes, MULTIPART_SUFFIX]),
  } as const;

  function open(res: ServerResponse, mode: StreamMode, caller: AuthenticatedCaller | undefined, key: string): Stream {
    let done = false;
    let stop = (): void => {};
    const stream: Stream = {
      res,
      mode,
      expiresAtMs: caller?.expiresAt !== undefined ? caller.expiresAt * 1000 : undefined,
      nextBeatAt: firstKeepAliveAt(Date.now(), limits.keepAliveMs),
      attach(unsubscribe) {
        if (done) unsubscribe();
        else stop = unsubscribe;
      },
      finish() {
        if (done) return;
        done = true;
        streams.delete(stream);
        options.limiter.release(key);
        stop();
      },
      sink: {
        send(result) {
          if (done || res.destroyed) return false;
          const framed = result.framed(mode, frameBytes[mode]);
          if (overflowsBuffer(res.writableLength, framed.length, limits.maxBufferedBytes)) {
            options.onSlowConsumer();
            logger.warn({ bufferedBytes: res.writableLength, frameBytes: framed.length }, 'dropping slow subscription consumer');
            stream.finish();
            res.destroy();
            return false;
          }
          res.write(framed);
          return true;
        },
        complete() {
          if (done) return;
          stream.finish();
          res.end(mode === 'sse' ? 'event: complete\ndata:\n\n' : '--\r\n');
        },
        error(errors: readonly GraphQLFormattedError[]) {
          if (done) return;
          res.write(frame(mode, JSON.stringify({ errors })));
          stream.sink.complete();
        },
      },
    };
    res.writeHead(200, {
      'content-type': mode === 'sse' ? 'text/event-stream; charset=utf-8' : `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`,
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(mode === 'sse' ? ':\n\n' : `\r\n--${BOUNDARY}`);
    streams.add(stream);
    res.on('close', () => stream.finish());
    return stream;
  }

  return {
    async handle(req, res, preRead) {
      const mode = acceptedMedia(req.headers.accept).stream;
      // Other methods (graphql-sse's PUT/DELETE reservations included) are the HTTP handler's to refuse: 405.
      if (!mode || (req.method !== 'GET' && req.method !== 'POST')) return false;
      if (!accepting) return reply(res, new VotemeshError('UPSTREAM_UNAVAILABLE', 'The gateway is shutting down; retry'), { connection: 'close' });
      const request = await readRequest(req, limits.maxMessageBytes, preRead);
      if (request instanceof BodyTooLargeError) {
        sendBodyTooLarge(res, request);
        return true;
      }
      if (typeof request === 'string') return reply(res, new VotemeshError('BAD_USER_INPUT', request));
      // A GET must not change anything (caches, prefetchers and links replay GETs): HTTP's rule and words.
      if (req.method === 'GET' && options.starter.kindOf(request) === 'mutation') {
        return reply(res, new VotemeshError('BAD_REQUEST', 'GET requests only support query operations, not mutation operations'), { allow: 'POST' }, 405);
      }
      let caller: AuthenticatedCaller | undefined;
      try {
        caller = await options.authenticate(bearerToken(req.headers.authorization));
      } catch (error) {
        if (error instanceof VotemeshError) return reply(res, error);
        logger.error({ err: error }, 'authenticating a subscription stream failed');
        return reply(res, new VotemeshError('UPSTREAM_UNAVAILABLE', 'Could not verify the token now; retry'));
      }
      // Reading the request and verifying the token took turns of the event loop. A client that
      // went away meanwhile has no 'close' left to fire, and a close() that began meanwhile has
      // already taken its list of streams: a stream opened now would never be ended, holding the
      // client's slot and its subscription (and upstream) until the token expires.
      if (res.destroyed || res.writableEnded) return true;
      if (!caller && options.requireIdentity) return reply(res, identityRequiredError());
      if (!accepting) return reply(res, new VotemeshError('UPSTREAM_UNAVAILABLE', 'The gateway is shutting down; retry'), { connection: 'close' });
      const address = options.clientAddress(req);
      const key = clientKeyOf(caller, address);
      if (!options.limiter.acquire(key)) {
        return reply(res, new VotemeshError('TOO_MANY_SUBSCRIPTIONS', `Too many connections (at most ${limits.maxConnectionsPerClient} per client)`));
      }
      const stream = open(res, mode, caller, key);
      const started = options.starter.start(request, caller, address, stream.sink);
      switch (started.kind) {
        case 'rejected':
          stream.sink.error(started.errors);
          break;
        case 'single':
          started.result.then(
            (result) => {
              if (stream.sink.send(outgoing(result))) stream.sink.complete();
            },
            (error: unknown) => {
              logger.error({ err: error }, 'executing an operation sent over a stream failed');
              stream.sink.error([{ message: 'Internal error', extensions: { code: 'INTERNAL' } }]);
            },
          );
          break;
        case 'subscribed':
          stream.attach(started.unsubscribe);
          break;
      }
      return true;
    },
    streamCount: () => streams.size,
    stopAccepting() {
      accepting = false;
    },
    async close() {
      accepting = false;
      clearInterval(ticker);
      const open = [...streams];
      const deadline = Date.now() + limits.drainTimeoutMs;
      while (open.some((stream) => !stream.res.destroyed && stream.res.writableLength > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // No `complete`: the operation did not finish, the server is going away; clients reconnect.
      for (const stream of open) {
        stream.finish();
        stream.res.end();
      }
    },
  };
}

/** The request's operation; a string says what is wrong with it; a BodyTooLargeError is answered 413. */
async function readRequest(req: IncomingMessage, limitBytes: number, preRead: string | undefined): Promise<OperationRequest | string | BodyTooLargeError> {
  try {
    if (req.method === 'GET') {
      const params = new URL(req.url ?? '/', 'http://gateway').searchParams;
      return parseOperationRequest({
        query: params.get('query') ?? undefined,
        operationName: params.get('operationName') ?? undefined,
        variables: jsonParam(params.get('variables')),
        extensions: jsonParam(params.get('extensions')),
      });
    }
    if (preRead !== undefined && Buffer.byteLength(preRead) > limitBytes) return new BodyTooLargeError(limitBytes);
    return parseOperationRequest(JSON.parse(preRead ?? (await readLimitedBody(req, limitBytes))));
  } catch (error) {
    if (error instanceof BodyTooLargeError) return error;
    return error instanceof Error ? error.message : 'the request could not be read';
  }
}

function jsonParam(value: string | null): unknown {
  return value === null || value === '' ? undefined : JSON.parse(value);
}

function reply(res: ServerResponse, error: VotemeshError, headers: Record<string, string> = {}, status = error.httpStatus): true {
  sendJson(res, status, { errors: [error.toJSON()] }, { ...challengeHeaders(status), ...headers });
  return true;
}
