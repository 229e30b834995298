// A Node HTTP server with the probes every votemesh process serves (/healthz, /readyz, /metrics)
// in front of the process's own handler. Listening on port 0 picks a free port: tests rely on it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.ts';
import { explainListenError } from './startup.ts';
import { runInServerContext } from './telemetry/server-context.ts';

export type { ReadinessCheck } from './readiness.ts';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface ProbeOptions {
  readonly registry: Registry;
  /** What /readyz answers (common/src/readiness.ts): 200 or 503 with the report as the body. */
  readonly readiness: Readiness;
}

export interface RunningHttpServer {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on `host:port`. `portVariable` is the setting that chose the port, named when the port is
 * taken or privileged (ListenError; a HOST not of this machine names HOST and it).
 * @default 'PORT' (every process's HTTP port)
 */
export async function listen(server: Server, port: number, host: string, portVariable = 'PORT'): Promise<RunningHttpServer> {
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => reject(explainListenError(error, portVariable, host, port));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: address.port,
    url: `http://${shownHost}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/** Answers the probe paths and returns true, or returns false for the caller to handle. */
export async function handleProbe(req: IncomingMessage, res: ServerResponse, options: ProbeOptions): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  switch (path) {
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return true;
    case '/readyz': {
      const { ready, ...report } = await options.readiness.report();
      sendJson(res, ready ? 200 : 503, report);
      return true;
    }
    case '/metrics':
      res.writeHead(200, { 'content-type': options.registry.contentType });
      res.end(await options.registry.metrics());
      return true;
    default:
      return false;
  }
}

/** The query string as `new URL(url).search` has it ('' or '?…', no fragment), without building a URL. */
export function searchOf(url: string): string {
  const fragment = url.indexOf('#');
  const end = fragment === -1 ? url.length : fragment;
  const start = url.indexOf('?');
  return start === -1 || start >= end - 1 ? '' : url.slice(start, end);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/**
 * Reads a request body as UTF-8. Past `limitBytes` it stops keeping what arrives and rejects with
 * `tooLarge()`; the request is destroyed then (as leaving a `for await` over it would) unless
 * `keepConnection`, where the rest is read and dropped so a 413 can still be written. Plain listeners, not an
 * async iterator: the iterator's per-request machinery (end-of-stream tracking, a promise per
 * chunk) cost more than the rest of reading a small GraphQL body.
 */
export function readBody(
  req: IncomingMessage,
  limitBytes: number,
  tooLarge: () => Error = () => new Error(`request body exceeds ${limitBytes} bytes`),
  keepConnection = false,
): Promise<string> {
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
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limitBytes) {
        chunks.push(chunk);
        return;
      }
      finish(tooLarge());
      // Without listeners the request keeps flowing: the rest is read and dropped, not kept.
      if (!keepConnection) req.destroy();
    };
    const onEnd = (): void => finish(undefined);
    const onClose = (): void => finish(new Error('the client closed the request before its body ended'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', finish);
    req.on('close', onClose);
  });
}

export function createHttpServer(handler: RequestHandler): Server {
  return createServer((req, res) => {
    // In local telemetry mode the request's trace context is set here (telemetry/server-context.ts).
    runInServerContext(req, () => {
      Promise.resolve(handler(req, res)).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal error', extensions: { code: 'INTERNAL' } }] });
        else res.destroy(error instanceof Error ? error : undefined);
      });
    });
  });
}
