// Small HTTP helpers the gateway's own endpoints share: error bodies in the GraphQL error shape
// (so every client parses one format) and a body reader with a size limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '@votemesh/common/http-server';
import { VotemeshError } from '@votemesh/common/errors';

/** Writes `{ errors: [{ message, extensions: { code } }] }` with the code's HTTP status. */
export function sendError(res: ServerResponse, error: VotemeshError, headers: Record<string, string> = {}): void {
  const extras: Record<string, string> = { ...headers };
  if (error.httpStatus === 401) extras['www-authenticate'] ??= 'Bearer';
  sendJson(res, error.httpStatus, { errors: [{ message: error.message, extensions: { ...error.extensions, code: error.code } }] }, extras);
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
 * Unlike common's readBody, the request is not destroyed at the limit: that cut the socket before
 * the 413 could be written, and the client got an empty reply. What still arrives is dropped
 * (nothing more is kept) until the 413, which closes the connection, is out.
 */
export function readLimitedBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) return Promise.reject(new BodyTooLargeError(limitBytes));
  // Already read (or gone): what iterating it would have given.
  if (req.readableEnded) return Promise.resolve('');
  if (req.destroyed) return Promise.reject(new Error('the client closed the request before its body ended'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: Error | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', finish);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
      // The request stays flowing with no listener: the rest is read and dropped, not kept.
      else finish(new BodyTooLargeError(limitBytes));
    };
    const onEnd = (): void => finish(undefined);
    const onClose = (): void => finish(new Error('the client closed the request before its body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', finish);
    req.on('close', onClose);
  });
}

/** 413 in the GraphQL error shape; the connection is closed once it is out (the rest of the body is not wanted). */
export function sendBodyTooLarge(res: ServerResponse, error: BodyTooLargeError): void {
  const body = JSON.stringify({ errors: [{ message: error.message, extensions: { code: 'BAD_USER_INPUT', limitBytes: error.limitBytes } }] });
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
