// The fetch the gateway uses for subgraph calls, with a deadline per call, so a hung subgraph fails
// one field with UPSTREAM_UNAVAILABLE instead of holding the client's request open.
//
// By default it calls undici's `request` on a keep-alive `Agent`, not WHATWG `fetch`: fetch builds
// a Request, a Headers list and a web ReadableStream for every call, which cost about as much CPU
// as the rest of the gateway's per-request work (BENCHMARKS.md, issue 2b). The answer is wrapped in
// the small `FetcherResponse` Apollo's RemoteGraphQLDataSource reads (status, headers, text/json).
// Tests can pass `fetch` to observe calls; then that fetch is used as it is.
import { STATUS_CODES } from 'node:http';
import type { Fetcher, FetcherHeaders, FetcherResponse } from '@apollo/utils.fetcher';
import { Agent, type Dispatcher } from 'undici';

export interface UpstreamTimeoutOptions {
  /** How long one subgraph call may take, headers and body. @default 10000 */
  readonly timeoutMs?: number;
  /** A WHATWG fetch to use instead of undici's `request` (tests pass one to observe calls). */
  readonly fetch?: typeof globalThis.fetch;
  /** The connection pool for the default transport. @default a keep-alive Agent, 128 connections per origin */
  readonly dispatcher?: Dispatcher;
}

export class UpstreamTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, options?: ErrorOptions) {
    super(`${url} did not answer within ${timeoutMs} ms`, options);
    this.name = 'UpstreamTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

export function createTimeoutFetcher(options: UpstreamTimeoutOptions = {}): Fetcher {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchImpl = options.fetch;
  if (fetchImpl) return createFetchFetcher(fetchImpl, timeoutMs);
  const dispatcher = options.dispatcher ?? new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
  return async (url, init = {}) => {
    // One deadline for headers AND body (a subgraph that sends headers and then stalls is an
    // UpstreamTimeoutError too): the body is read here, inside the deadline, so the response handed
    // on is complete. The timer is cleared as soon as the call is over.
    const controller = new AbortController();
    const timeout = new UpstreamTimeoutError(url, timeoutMs);
    const timer = setTimeout(() => controller.abort(timeout), timeoutMs);
    try {
      const answer = await dispatcher.request({
        origin: new URL(url).origin,
        path: pathOf(url),
        method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: init.headers ?? {},
        body: init.body ?? null,
        signal: controller.signal,
        // The deadline above is the only timeout; undici's own would fire later anyway.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const text = await answer.body.text();
      return new BufferedResponse(url, answer.statusCode, answer.headers, text);
    } catch (error) {
      if (controller.signal.aborted) throw timeout;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };
}

function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start === -1 ? '/' : url.slice(start);
}

function createFetchFetcher(fetchImpl: typeof globalThis.fetch, timeoutMs: number): Fetcher {
  return async (url, init = {}) => {
    // The response is handed on as fetch returned it (no copy), and a body read still running at
    // the deadline rejects with this signal's reason. The timer is unref'd and, once the call is
    // over, firing it is a no-op.
    const controller = new AbortController();
    setTimeout(() => controller.abort(new UpstreamTimeoutError(url, timeoutMs)), timeoutMs).unref();
    const body = typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body);
    try {
      return await fetchImpl(url, {
        signal: controller.signal,
        ...(init.method === undefined ? {} : { method: init.method }),
        ...(init.headers === undefined ? {} : { headers: init.headers }),
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      if (controller.signal.aborted && controller.signal.reason instanceof UpstreamTimeoutError) throw controller.signal.reason;
      throw error;
    }
  };
}

/** A complete answer (status, headers, body text) in the shape RemoteGraphQLDataSource reads. */
class BufferedResponse implements FetcherResponse {
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly redirected = false;
  readonly headers: FetcherHeaders;
  readonly #text: string;
  #used = false;

  constructor(url: string, status: number, headers: Record<string, string | string[] | undefined>, text: string) {
    this.url = url;
    this.status = status;
    this.statusText = STATUS_CODES[status] ?? '';
    this.ok = status >= 200 && status < 300;
    this.headers = new ResponseHeaders(headers);
    this.#text = text;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  #consume(): string {
    if (this.#used) throw new TypeError('Body has already been consumed');
    this.#used = true;
    return this.#text;
  }

  async text(): Promise<string> {
    return this.#consume();
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.#consume()) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(this.#consume());
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  clone(): FetcherResponse {
    if (this.#used) throw new TypeError('Cannot clone a consumed response');
    const copy = new BufferedResponse(this.url, this.status, {}, this.#text);
    for (const [name, value] of this.headers) copy.headers.append(name, value);
    return copy;
  }
}

/** Lower-cased header names; repeated headers joined with ", " (as WHATWG Headers does). */
class ResponseHeaders implements FetcherHeaders {
  readonly #map = new Map<string, string>();

  constructor(raw: Record<string, string | string[] | undefined>) {
    for (const name in raw) {
      const value = raw[name];
      if (value !== undefined) this.#map.set(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
    }
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const existing = this.#map.get(key);
    this.#map.set(key, existing === undefined ? value : `${existing}, ${value}`);
  }
  delete(name: string): void {
    this.#map.delete(name.toLowerCase());
  }
  get(name: string): string | null {
    return this.#map.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }
  set(name: string, value: string): void {
    this.#map.set(name.toLowerCase(), value);
  }
  entries(): Iterator<[string, string]> {
    return this.#map.entries();
  }
  keys(): Iterator<string> {
    return this.#map.keys();
  }
  values(): Iterator<string> {
    return this.#map.values();
  }
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.#map.entries();
  }
}
