// Subscriptions to subgraphs over graphql-ws (`graphql-transport-ws`). One client (one socket) per
// (subgraph, auth scope), multiplexing every deduplicated upstream subscription of that scope; the
// scope's identity goes in `connection_init` as `{ identity }`, signed afresh on every (re)connect.
// A socket lost unexpectedly is reconnected with exponential backoff and full jitter for at most
// `upstreamReconnectWindowMs`; the graphql-ws client then re-sends every active `subscribe`, so
// clients keep their subscriptions. When the window passes, each subscription ends with an
// UPSTREAM_UNAVAILABLE error, never silently. A request's `extensions` (the trace context of its
// `gateway.upstream.subscribe` span) go in the `subscribe` message and are re-sent with it.
import type { Identity } from '@votemesh/common/contracts/identity';
import type { Logger } from '@votemesh/common/logger';
import type { GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { UpstreamEvent } from './event-resolver.ts';

export interface UpstreamTarget {
  readonly subgraph: string;
  /** 'public', or the caller scope (`role:subject`) whose identity is forwarded. */
  readonly scope: string;
  readonly identity: Identity | undefined;
}

export interface UpstreamRequest {
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Record<string, unknown>;
  /** The `subscribe` message's `payload.extensions`: the trace context (upstream-telemetry.ts). */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export interface UpstreamHandlers {
  next(event: UpstreamEvent): void;
  /** The subgraph refused or ended the subscription with errors, or could not be reached in time. */
  error(errors: readonly GraphQLFormattedError[]): void;
  complete(): void;
}

export interface UpstreamConnector {
  subscribe(target: UpstreamTarget, request: UpstreamRequest, handlers: UpstreamHandlers): () => void;
  /** Open subgraph sockets (one per subgraph + scope in use). */
  socketCount(): number;
  close(): Promise<void>;
}

export interface UpstreamConnectorOptions {
  /** Subgraph name → graphql-ws URL (`ws://…/graphql`). */
  readonly wsUrls: ReadonlyMap<string, string>;
  readonly signIdentity: (identity: Identity) => Promise<string>;
  readonly logger: Logger;
  readonly reconnectWindowMs: number;
  readonly maxBackoffMs: number;
  /** Ping interval; a socket whose pong has not come by the next ping is cut and reconnected. */
  readonly keepAliveMs: number;
  /** Deadline of the WebSocket upgrade, and then of `connection_ack`, on every (re)connect. */
  readonly connectTimeoutMs: number;
}

/**
 * `ws` with per-message deflate off (compression costs more CPU than it saves on small events) and
 * a deadline on the opening handshake: a subgraph that accepts TCP but never answers the upgrade
 * would otherwise never produce a close, so the reconnect window would never start.
 */
function plainWebSocket(handshakeTimeout: number): new (address: string, protocols?: string | string[]) => WebSocket {
  return class PlainWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { perMessageDeflate: false, handshakeTimeout });
    }
  };
}

interface PooledClient {
  readonly client: Client;
  readonly log: Logger;
  refs: number;
  /** When the socket was lost; undefined while connected. */
  disconnectedAt: number | undefined;
  /** Cuts the socket when the pong to our last ping has not come in time. */
  pongDeadline: NodeJS.Timeout | undefined;
}

export function createUpstreamConnector(options: UpstreamConnectorOptions): UpstreamConnector {
  const pool = new Map<string, PooledClient>();
  const WebSocketImpl = plainWebSocket(options.connectTimeoutMs);
  let closed = false;

  function acquire(target: UpstreamTarget): { pooled: PooledClient; release: () => void } {
    const poolKey = `${target.subgraph}\u0000${target.scope}`;
    let pooled = pool.get(poolKey);
    if (!pooled) {
      const url = options.wsUrls.get(target.subgraph);
      if (!url) throw new Error(`No WebSocket URL for subgraph "${target.subgraph}"`);
      const log = options.logger.child({ subgraph: target.subgraph, scope: target.scope === 'public' ? 'public' : 'caller' });
      const entry: PooledClient = {
        refs: 0,
        disconnectedAt: undefined,
        pongDeadline: undefined,
        log,
        client: createClient({
          url,
          webSocketImpl: WebSocketImpl,
          lazy: true,
          keepAlive: options.keepAliveMs,
          // The subgraph upgraded but never acknowledges: closed 4504, which is retried.
          connectionAckWaitTimeout: options.connectTimeoutMs,
          connectionParams: async () => (target.identity ? { identity: await options.signIdentity(target.identity) } : {}),
          retryAttempts: Number.MAX_SAFE_INTEGER, // bounded by time in shouldRetry instead
          retryWait: (retries) => backoff(retries, options.maxBackoffMs),
          shouldRetry: (errorOrClose) => {
            if (closed || isRefusal(errorOrClose)) return false;
            const lostFor = Date.now() - (entry.disconnectedAt ?? Date.now());
            return lostFor < options.reconnectWindowMs;
          },
          on: {
            connected: (_socket, _payload, wasRetry) => {
              if (wasRetry) log.info({ downMs: Date.now() - (entry.disconnectedAt ?? Date.now()) }, 'subgraph subscription socket reconnected');
              entry.disconnectedAt = undefined;
            },
            // A half-open socket (subgraph host gone, no FIN or RST) never closes by itself, so
            // the pings graphql-ws sends get a deadline: no pong by the next ping, and
            // terminate() closes the socket (4499) the way a lost one closes, retried in the window.
            ping: (received) => {
              if (received) return;
              clearTimeout(entry.pongDeadline);
              entry.pongDeadline = setTimeout(() => {
                log.warn({ waitedMs: options.keepAliveMs }, 'subgraph subscription socket missed its pong; terminating');
                entry.client.terminate();
              }, options.keepAliveMs);
              entry.pongDeadline.unref();
            },
            pong: (received) => {
              if (received) clearTimeout(entry.pongDeadline);
            },
            closed: (event) => {
              clearTimeout(entry.pongDeadline);
              if (entry.refs > 0 && entry.disconnectedAt === undefined) {
                entry.disconnectedAt = Date.now();
                log.warn({ code: closeCode(event) }, 'subgraph subscription socket lost; reconnecting');
              }
            },
          },
        }),
      };
      pooled = entry;
      pool.set(poolKey, entry);
    }
    const held = pooled;
    held.refs += 1;
    let released = false;
    return {
      pooled: held,
      release() {
        if (released) return;
        released = true;
        held.refs -= 1;
        if (held.refs === 0 && pool.get(poolKey) === held) {
          pool.delete(poolKey);
          void disposeClient(held);
        }
      },
    };
  }

  return {
    subscribe(target, request, handlers) {
      const { pooled, release } = acquire(target);
      let ended = false;
      const end = (): void => {
        ended = true;
        release();
      };
      const unsubscribe = pooled.client.subscribe<Record<string, unknown>, Record<string, unknown>>(
        {
          query: request.query,
          variables: request.variables,
          ...(request.operationName ? { operationName: request.operationName } : {}),
          ...(request.extensions && Object.keys(request.extensions).length > 0 ? { extensions: { ...request.extensions } } : {}),
        },
        {
          next: (result) => {
            if (ended) return;
            handlers.next({
              ...(result.data !== undefined ? { data: result.data } : {}),
              ...(result.errors ? { errors: result.errors } : {}),
              ...(result.extensions ? { extensions: result.extensions } : {}),
            });
          },
          error: (error: unknown) => {
            if (ended) return;
            end();
            handlers.error(toUpstreamErrors(error, target.subgraph, options.connectTimeoutMs));
          },
          complete: () => {
            if (ended) return;
            end();
            handlers.complete();
          },
        },
      );
      return () => {
        if (ended) return;
        end();
        unsubscribe();
      };
    },
    socketCount: () => pool.size,
    async close() {
      closed = true;
      const pooled = [...pool.values()];
      pool.clear();
      await Promise.allSettled(pooled.map(disposeClient));
    },
  };
}

/**
 * graphql-ws's dispose() awaits a connect attempt in progress and rejects with its failure: the
 * subgraph refusing the socket, or the attempt denied with 1000 'All Subscriptions Gone' when the
 * last subscription left during a backoff. Either way nothing is left open, so the rejection only
 * says why; unhandled, it would end the process.
 */
async function disposeClient(pooled: PooledClient): Promise<void> {
  clearTimeout(pooled.pongDeadline);
  try {
    await pooled.client.dispose();
  } catch (error) {
    pooled.log.debug({ code: closeCode(error), err: error }, 'subgraph subscription socket disposed during a failed connect attempt');
  }
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, 250 ms · 2^retries)]. */
function backoff(retries: number, capMs: number): Promise<void> {
  const ceiling = Math.min(capMs, 250 * 2 ** Math.min(retries, 20));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling).unref());
}

/** The subgraph said no (4xxx from graphql-ws other than a terminate/timeout): retrying won't help. */
function isRefusal(errorOrClose: unknown): boolean {
  const code = closeCode(errorOrClose);
  return code !== undefined && code >= 4000 && code <= 4999 && code !== 4499 && code !== 4408 && code !== 4504;
}

function closeCode(event: unknown): number | undefined {
  if (typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number') return event.code;
  return undefined;
}

/** What `ws` says when `handshakeTimeout` (plainWebSocket) ends an upgrade the subgraph never answered. */
const UPGRADE_TIMEOUT_MESSAGE = 'Opening handshake has timed out';
/** graphql-ws closes 4504 itself when `connection_ack` has not come within `connectionAckWaitTimeout`. */
const ACK_TIMEOUT_CLOSE_CODE = 4504;

/**
 * The errors a subscription ends with when its subgraph failed it. A missed connect deadline names
 * the step the subgraph never finished and the deadline: "connection failed" pointed at a subgraph
 * that was down when it was up and hung (overloaded, or not speaking graphql-ws).
 */
function toUpstreamErrors(error: unknown, subgraph: string, connectTimeoutMs: number): readonly GraphQLFormattedError[] {
  if (Array.isArray(error)) {
    return error.map((item: GraphQLFormattedError) => ({ ...item, extensions: { ...item.extensions, serviceName: subgraph } }));
  }
  const code = closeCode(error);
  const reason = typeof error === 'object' && error !== null && 'reason' in error && typeof error.reason === 'string' ? error.reason : '';
  // The socket's failures come as `ws` ErrorEvents (not Errors) carrying the cause's message. Only
  // the deadline's is put into words: others (ECONNREFUSED 10.…:4001) would show clients our network.
  const failure = typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string' ? error.message : '';
  let message: string;
  if (code === ACK_TIMEOUT_CLOSE_CODE) {
    message = `Subgraph "${subgraph}" did not acknowledge the graphql-ws connection_init within ${connectTimeoutMs} ms`;
  } else if (failure === UPGRADE_TIMEOUT_MESSAGE) {
    message = `Subgraph "${subgraph}" did not complete the WebSocket handshake for graphql-ws within ${connectTimeoutMs} ms`;
  } else {
    const detail = code !== undefined ? `socket closed ${code}${reason ? ` ${reason}` : ''}` : error instanceof Error ? error.message : 'connection failed';
    message = `Subscription to subgraph "${subgraph}" was lost (${detail})`;
  }
  return [{ message, extensions: { code: 'UPSTREAM_UNAVAILABLE', serviceName: subgraph } }];
}
