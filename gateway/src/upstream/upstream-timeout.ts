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

export function createTimeoutFetcher(options: UpstreamTimeoutOptions = {}): Fetcher {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  return async (url, init = {}) => {
    // One deadline for headers AND body: the response is handed on as fetch returned it (no copy),
    // and a body read still running at the deadline rejects with this signal's reason, so a
    // subgraph that sends headers and then stalls is an UpstreamTimeoutError too. The timer is
    // unref'd and, once the call is over, firing it is a no-op.
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
