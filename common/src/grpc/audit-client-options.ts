// The audit client's options and counters (common/src/grpc/audit-client.ts).
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { GrpcKeepalive } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { AuditSpool } from './audit-spool.ts';

/**
 * How long the close at shutdown waits for confirmations before leaving the rest to the spool
 * (connect-audit-client.ts). Here, in a module without runtime imports, so a config module can
 * budget for it without loading gRPC before telemetry is set up.
 */
export const AUDIT_CLIENT_CLOSE_TIMEOUT_MS = 2000;

export interface AuditClientOptions {
  /** host:port of AuditIngest (AUDIT_GRPC_URL). */
  readonly address: string;
  readonly logger: Logger;
  /** The sending process, e.g. "vote" or "worker". */
  readonly source: string;
  /**
   * Unconfirmed events kept in memory at most. Beyond it a new event goes to the spool only (and is
   * sent once there is room), or, without a spool or when the spool write fails, is dropped and
   * counted. @default 100000
   */
  readonly maxBuffered?: number;
  /**
   * Durable store of unconfirmed events (Redis: audit-spool.ts): written when an event is recorded,
   * cleared on confirmation, adopted at start and periodically. Without it a restart loses what
   * the audit service has not confirmed.
   */
  readonly spool?: AuditSpool;
  /**
   * How the spooled gauge reads the spool's size at scrape. Give one on a fail-fast connection (no
   * offline queue, no retries) when the spool's own connection queues commands while Redis is
   * away: otherwise every scrape during an outage leaves one more ZCARD in that queue. @default spool.size
   */
  readonly spoolSize?: () => Promise<number>;
  /**
   * How long after a failed spool write (READONLY, OOM) its events are written again, doubled per
   * failed retry up to 30 s; recording or waiting for one of them again retries at once. @default 1000
   */
  readonly spoolRetryMs?: number;
  /** How often the spool is checked for events nobody here holds (a dead replica's). @default 10000 */
  readonly spoolAdoptEveryMs?: number;
  /** …adopting those recorded at least this long ago (a live replica is still sending younger ones). @default 30000 */
  readonly spoolAdoptAfterMs?: number;
  /** Where the client's metrics go (votemesh_audit_client_*). */
  readonly registry?: Registry;
  /**
   * Longest a recorded event waits for others to share its message; a full message goes at once.
   * The server batches its appends over 100 ms anyway (AUDIT_APPEND_MAX_DELAY_MS), so this adds
   * little to when an event is visible, and nothing waits on it. @default 20
   */
  readonly batchDelayMs?: number;
  /** Most events in one message. @default 500 */
  readonly maxBatchEvents?: number;
  /**
   * Most bytes in one message, counted as 3 per UTF-16 code unit (UTF-8's worst case) so a message
   * stays far below the 4 MiB that gRPC receives by default; one bigger event goes alone. @default 1048576
   */
  readonly maxBatchBytes?: number;
  /** After an audit service answered that it lacks RecordBatch, events go over Record this long before trying again. @default 60000 */
  readonly batchRetryMs?: number;
  /** A call is half-closed (to collect its confirmation) this long after it opened. @default 1000 */
  readonly rotateEveryMs?: number;
  /** …or after this many events. @default 5000 */
  readonly rotateEveryEvents?: number;
  /** Deadline of one call; a stuck call fails and its events are resent. @default 30000 */
  readonly callDeadlineMs?: number;
  /** Reconnect backoff: first delay, doubled per failure (with jitter) up to `backoffMaxMs`. @default 100 */
  readonly backoffInitialMs?: number;
  /** @default 5000 */
  readonly backoffMaxMs?: number;
  /** How long `close()` waits for confirmations before giving up on what is left. @default 5000 */
  readonly closeTimeoutMs?: number;
  /** @default insecure (the mesh adds mTLS) */
  readonly credentials?: ChannelCredentials;
  /** HTTP/2 pings that fail a call on a dead connection (GRPC_KEEPALIVE_*). @default DEFAULT_GRPC_KEEPALIVE */
  readonly keepalive?: GrpcKeepalive;
}

export interface AuditClientStats {
  /** Recorded, not yet confirmed (waiting, or sent on a call that has not completed). */
  readonly buffered: number;
  /** Of those, how many are not in the spool because their write failed (until a retry of it succeeds). */
  readonly unspooled: number;
  readonly confirmed: number;
  /** Dropped because the buffer was full (and the spool unwritable), the client was closed, or the event could not be encoded. */
  readonly dropped: number;
  /** Recorded while memory was full: kept in the spool only, until there is room. */
  readonly overflowed: number;
  /** Sent again after a failed call, or adopted from the spool. */
  readonly resent: number;
  readonly spoolErrors: number;
  /** Refused by the server as invalid (INVALID_ARGUMENT); never resent. */
  readonly rejected: number;
  readonly callsOpened: number;
  readonly callsFailed: number;
  /** gRPC messages written (a RecordBatch message carries many events). */
  readonly messagesSent: number;
}

/** The counters of `AuditClientStats` (all but `buffered` and `unspooled`, read from state): the client's parts count into one. */
export type AuditClientCounts = { -readonly [K in Exclude<keyof AuditClientStats, 'buffered' | 'unspooled'>]: number };
