// Small HTTP helpers the gateway's own endpoints share: error bodies in the GraphQL error shape
// (so every client parses one format) and a body reader with a size limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '@votemesh/common/http-server';
import { VotemeshError } from '@votemesh/common/errors';
import { challengeHeaders } from './challenge.ts';

/** Writes `{ errors: [{ message, extensions: { code } }] }` with the code's HTTP status, or `status`
 * where HTTP has a more precise one than the code's (405 for a method, as Apollo Server does), and
 * the challenge a 401 needs (http/challenge.ts) unless `headers` has its own. */
export function sendError(res: ServerResponse, error: VotemeshError, headers: Record<string, string> = {}, status = error.httpStatus): void {
  sendJson(
    res,
    status,
    { errors: [{ message: error.message, extensions: { ...error.extensions, code: error.code } }] },
    { ...challengeHeaders(status), ...headers },
  );
}

export class BodyTooLargeError extends Error {
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`The request body exceeds ${limitBytes} bytes`);
    this.name = 'BodyTooLargeError';
    this.limitBytes = limitBytes;
  }
}

/**
 * Reads a request body up to `limitBytes`; rejects early from Content-Length and stops keeping what
 * arrives as soon as the limit is crossed. Answer a BodyTooLargeError with sendBodyTooLarge.
 * common's readBody with keepConnection: destroying the request at the limit cut the socket before
 * the 413 could be written, and the client got an empty reply. What still arrives is dropped
 * (nothing more is kept) until the 413, which closes the connection, is out.
 */
export function readLimitedBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(new BodyTooLargeError(limitBytes));
  return readBody(req, limitBytes, () => new BodyTooLargeError(limitBytes), true);
}

/** 413 in the GraphQL error shape; the connection is closed once it is out (the rest of the body is not wanted). */
export function sendBodyTooLarge(res: ServerResponse, error: BodyTooLargeError): void {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: 'BAD_USER_INPUT', limitBytes: error.limitBytes } }] });
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
