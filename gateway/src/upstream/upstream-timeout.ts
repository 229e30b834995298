// The fetch the gateway uses for subgraph calls: Node's fetch (undici, keep-alive pooling) with a
// deadline per call, so a hung subgraph fails one field with UPSTREAM_UNAVAILABLE instead of
// holding the client's request open.
import type { Fetcher } from '@apollo/utils.fetcher';

export interface UpstreamTimeoutOptions {
  /** How long one subgraph call may take, headers and body. @default 10000 */
  readonly timeoutMs?: number;
  /** The underlying fetch; tests pass one to observe calls. @default globalThis.fetch */
  readonly fetch?: typeof globalThis.fetch;
}

export class UpstreamTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, options?: ErrorOptions) {
    super(`${url} did not answer within ${timeoutMs} ms`, options);
    this.name = 'UpstreamTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

export function createTimeoutFetcher(options: UpstreamTimeoutOptions = {}): Fetcher {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  return async (url, init = {}) => {
    const signal = AbortSignal.timeout(timeoutMs);
    const body = typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body);
    try {
      const response = await fetchImpl(url, {
        signal,
        ...(init.method === undefined ? {} : { method: init.method }),
        ...(init.headers === undefined ? {} : { headers: init.headers }),
        ...(body === undefined ? {} : { body }),
      });
      // Read the body under the same deadline: a subgraph that sends headers then stalls is a timeout too.
      const bytes = await response.arrayBuffer();
      return new Response(NULL_BODY_STATUSES.has(response.status) ? null : bytes, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    } catch (error) {
      if (signal.aborted) throw new UpstreamTimeoutError(url, timeoutMs, { cause: error });
      throw error;
    }
  };
}
