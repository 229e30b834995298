// How the gateway's HTTP calls reach a subgraph: one POST over a shared undici keep-alive pool,
// with ONE deadline for headers and body, so a hung subgraph fails one fetch with
// UPSTREAM_UNAVAILABLE instead of holding the client's request open.
//
// It uses undici's `dispatch` with a small handler that collects the body, not `fetch` or
// `request`: those build a Request/Headers/web stream or a Readable per call, and the subgraph's
// URL is parsed once here, not per call (BENCHMARKS.md, issue 2b).
//
// Keep-alive: a pooled connection must never outlive the subgraph server's own idle timeout, or
// the server closes it while a request is on its way (ECONNRESET). undici honours the server's
// `Keep-Alive: timeout=N` hint (Node sends timeout=5 by default) and keeps the connection idle for
// at most N s minus `keepAliveTimeoutThreshold` (2 s): 3 s against a Node subgraph. Without a hint
// it uses `keepAliveTimeoutMs`, which is below Node's 5 s default for the same reason. If a
// reused connection is closed under a request anyway (a server closing earlier than it said) and
// no byte of an answer arrived, an idempotent request (a query) is sent once more on a fresh
// connection. A mutation never is: the subgraph may have run it before the connection dropped,
// and a castVote must not be cast twice.
import { Agent, type Dispatcher } from 'undici';

export interface SubgraphAgentOptions {
  /** Connections per subgraph origin. @default 128 */
  readonly connections?: number;
  /**
   * How long an idle connection is kept when the subgraph's answer carries no `Keep-Alive: timeout`
   * hint; keep it below the subgraph server's idle timeout (Node's default is 5 s). @default 4000
   */
  readonly keepAliveTimeoutMs?: number;
}

/** The connection pool for every subgraph call of one gateway. */
export function createSubgraphAgent(options: SubgraphAgentOptions = {}): Agent {
  return new Agent({ connections: options.connections ?? 128, pipelining: 1, keepAliveTimeout: options.keepAliveTimeoutMs ?? 4000 });
}

export class UpstreamTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, options?: ErrorOptions) {
    super(`${url} did not answer within ${timeoutMs} ms`, options);
    this.name = 'UpstreamTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** A complete answer: status, content type and the body as text. */
export interface SubgraphAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

export interface SubgraphHttpOptions {
  /** The pool to send through (createSubgraphAgent). */
  readonly dispatcher: Dispatcher;
  /** How long one subgraph call may take, headers and body, retry included. @default 10000 */
  readonly timeoutMs?: number;
}

export interface SubgraphHttpClient {
  readonly url: string;
  /**
   * POSTs `body`; resolves with the whole answer whatever its status. Rejects with an
   * UpstreamTimeoutError at the deadline, else with the transport's error. `idempotent`: the
   * request may be sent again after a stale connection was closed under it (see above).
   */
  post(headers: Readonly<Record<string, string>>, body: string, idempotent: boolean): Promise<SubgraphAnswer>;
}

/** Errors by which a connection that was closed (by the server, or reset) fails a request. */
const CONNECTION_CLOSED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export function createSubgraphHttpClient(url: string, options: SubgraphHttpOptions): SubgraphHttpClient {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { origin, pathname, search } = new URL(url);
  const path = `${pathname}${search}`;
  const { dispatcher } = options;

  return {
    url,
    post(headers, body, idempotent) {
      return new Promise<SubgraphAnswer>((resolve, reject) => {
        let settled = false;
        let timedOut = false;
        let attempt: Attempt | undefined;
        const settle = (error: Error | undefined, answer?: SubgraphAnswer): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (error) reject(error);
          else if (answer) resolve(answer);
        };
        // The error (and its stack) is only built when the deadline passes.
        const timer = setTimeout(() => {
          timedOut = true;
          const error = new UpstreamTimeoutError(url, timeoutMs);
          attempt?.abort(error);
          settle(error);
        }, timeoutMs);
        const send = (retriesLeft: number): void => {
          attempt = new Attempt((error, answer) => {
            if (error && retriesLeft > 0 && !timedOut && !error.answerStarted && isConnectionClosed(error.cause)) {
              send(retriesLeft - 1);
              return;
            }
            settle(error?.cause, answer);
          });
          // undici's own timeouts are off: the deadline above is the only one.
          dispatcher.dispatch({ origin, path, method: 'POST', headers, body, headersTimeout: 0, bodyTimeout: 0 }, attempt);
        };
        send(idempotent ? 1 : 0);
      });
    },
  };
}

function isConnectionClosed(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && CONNECTION_CLOSED.has(code);
}

interface AttemptError {
  readonly cause: Error;
  /** Whether the answer's status line had arrived when it failed. */
  readonly answerStarted: boolean;
}

/** One send of the request: collects the answer and reports it once. */
class Attempt implements Dispatcher.DispatchHandler {
  readonly #done: (error: AttemptError | undefined, answer?: SubgraphAnswer) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #abortedWith: Error | undefined;
  #status = 0;
  #contentType: string | undefined;
  readonly #chunks: Buffer[] = [];

  constructor(done: (error: AttemptError | undefined, answer?: SubgraphAnswer) => void) {
    this.#done = done;
  }

  /** Stops the attempt; one still queued for a connection is stopped when it gets one. */
  abort(reason: Error): void {
    this.#abortedWith = reason;
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortedWith) controller.abort(this.#abortedWith);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.#status = statusCode;
    const contentType = headers['content-type'];
    this.#contentType = Array.isArray(contentType) ? contentType[0] : contentType;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    const body = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer).toString('utf8') : Buffer.concat(this.#chunks).toString('utf8');
    this.#done(undefined, { status: this.#status, contentType: this.#contentType, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#done({ cause: error, answerStarted: this.#status !== 0 });
  }
}
