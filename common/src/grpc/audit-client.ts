// The AuditSink every process sends audit events through: an AuditIngest.Record client that never
// blocks or throws in `record`, buffers (bounded) what the audit service has not confirmed yet, and
// resends it after a lost stream. Only a completed call (RecordSummary) confirms its events, so the
// open call is rotated every `rotateEveryMs` or `rotateEveryEvents`; the server ignores resent
// event ids, so "resend everything unconfirmed" delivers each event exactly once into the log.
// Contract: docs/contracts/audit.md.
import { credentials as grpcCredentials, Metadata, status, type ChannelCredentials, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { GrpcKeepalive } from '../config.ts';
import type { AuditEventDraft, AuditSink } from '../contracts/audit.ts';
import { UUID_PATTERN } from '../contracts/parse.ts';
import type { Logger } from '../logger.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';
import { clientKeepaliveOptions } from './keepalive.ts';
import { loadAuditProto } from './load.ts';

/** Trailing metadata of an INVALID_ARGUMENT answer: the event id the server refused. */
export const AUDIT_INVALID_EVENT_ID_METADATA = 'x-votemesh-invalid-event-id';
/** Trailing metadata of an INVALID_ARGUMENT answer: the offending field. */
export const AUDIT_INVALID_FIELD_METADATA = 'x-votemesh-invalid-field';
/** Request metadata naming the sending process (logs on the server side). */
export const AUDIT_SOURCE_METADATA = 'x-votemesh-source';

export interface AuditClientOptions {
  /** host:port of AuditIngest (AUDIT_GRPC_URL). */
  readonly address: string;
  readonly logger: Logger;
  /** The sending process, e.g. "vote" or "worker". */
  readonly source: string;
  /** Unconfirmed events kept at most; beyond it new events are dropped and counted. @default 100000 */
  readonly maxBuffered?: number;
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
  readonly confirmed: number;
  /** Dropped because the buffer was full, the client was closed, or the event could not be encoded. */
  readonly dropped: number;
  /** Refused by the server as invalid (INVALID_ARGUMENT); never resent. */
  readonly rejected: number;
  readonly callsOpened: number;
  readonly callsFailed: number;
}

export interface AuditClient extends AuditSink {
  stats(): AuditClientStats;
}

interface Entry {
  readonly n: number;
  readonly message: AuditEventInput;
}

interface Call {
  readonly stream: ClientWritableStream<AuditEventInput>;
  readonly entries: Entry[];
  readonly timer: NodeJS.Timeout;
  blocked: boolean;
}

interface FlushWaiter {
  readonly upTo: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

type Phase = { readonly kind: 'ready' } | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout } | { readonly kind: 'closed' };

export function createAuditClient(options: AuditClientOptions): AuditClient {
  const { logger } = options;
  const maxBuffered = options.maxBuffered ?? 100_000;
  const rotateEveryMs = options.rotateEveryMs ?? 1000;
  const rotateEveryEvents = options.rotateEveryEvents ?? 5000;
  const callDeadlineMs = options.callDeadlineMs ?? 30_000;
  const backoffInitialMs = options.backoffInitialMs ?? 100;
  const backoffMaxMs = options.backoffMaxMs ?? 5000;
  const { AuditIngest } = loadAuditProto().votemesh.audit.v1;
  const client = new AuditIngest(options.address, options.credentials ?? grpcCredentials.createInsecure(), clientKeepaliveOptions(options.keepalive));

  /** Every unconfirmed entry by its number; insertion order is number order. */
  const unconfirmed = new Map<number, Entry>();
  let waiting: Entry[] = [];
  let active: Call | undefined;
  const flushWaiters = new Set<FlushWaiter>();
  let phase: Phase = { kind: 'ready' };
  let accepting = true;
  let failures = 0;
  let lastNumber = 0;
  let pumpQueued = false;
  let closing: Promise<void> | undefined;
  const counts = { confirmed: 0, dropped: 0, rejected: 0, callsOpened: 0, callsFailed: 0 };
  let lastDropLogAt = 0;

  function drop(reason: string, extra: object = {}): void {
    counts.dropped += 1;
    const now = Date.now();
    // Loud but bounded: the first drop, then at most one line per second with the running count.
    if (counts.dropped === 1 || now - lastDropLogAt >= 1000) {
      lastDropLogAt = now;
      logger.error({ ...extra, reason, dropped: counts.dropped, buffered: unconfirmed.size, maxBuffered, source: options.source }, 'audit events dropped');
    }
  }

  function schedulePump(): void {
    if (pumpQueued) return;
    pumpQueued = true;
    queueMicrotask(() => {
      pumpQueued = false;
      pump();
    });
  }

  function pump(): void {
    if (phase.kind !== 'ready') return;
    while (waiting.length > 0) {
      const call = active ?? openCall();
      if (call.blocked) return;
      // Writes up to the rotation limit in one go; `write` returning false means the transport
      // buffer is full, so wait for 'drain' instead of piling more into memory there.
      const room = rotateEveryEvents - call.entries.length;
      const batch = waiting.length <= room ? waiting : waiting.slice(0, room);
      waiting = waiting.length <= room ? [] : waiting.slice(room);
      let index = 0;
      for (; index < batch.length; index += 1) {
        const entry = batch[index];
        if (entry === undefined) continue;
        call.entries.push(entry);
        if (!call.stream.write(entry.message)) {
          call.blocked = true;
          call.stream.once('drain', () => {
            call.blocked = false;
            schedulePump();
          });
          index += 1;
          break;
        }
      }
      if (index < batch.length) waiting = batch.slice(index).concat(waiting);
      if (call.entries.length >= rotateEveryEvents) halfClose(call);
      if (call.blocked) return;
    }
    // Someone is waiting for confirmations: don't let them wait for the rotation timer.
    if (flushWaiters.size > 0 && active) halfClose(active);
  }

  function openCall(): Call {
    counts.callsOpened += 1;
    const metadata = new Metadata();
    metadata.set(AUDIT_SOURCE_METADATA, options.source);
    const entries: Entry[] = [];
    let call: Call | undefined;
    const stream = client.Record(metadata, { deadline: Date.now() + callDeadlineMs }, (error: ServiceError | null) => {
      if (call) settle(call, error);
    });
    call = { stream, entries, blocked: false, timer: setTimeout(() => call && halfClose(call), rotateEveryMs) };
    active = call;
    return call;
  }

  function halfClose(call: Call): void {
    clearTimeout(call.timer);
    if (active === call) active = undefined;
    call.stream.end();
  }

  function settle(call: Call, error: ServiceError | null): void {
    clearTimeout(call.timer);
    if (active === call) active = undefined;
    if (error === null) {
      for (const entry of call.entries) unconfirmed.delete(entry.n);
      counts.confirmed += call.entries.length;
      if (failures > 0) logger.info({ failures, source: options.source }, 'audit stream recovered; unconfirmed events were resent');
      failures = 0;
    } else {
      counts.callsFailed += 1;
      let resend = call.entries;
      const refusedId = error.code === status.INVALID_ARGUMENT ? error.metadata?.get(AUDIT_INVALID_EVENT_ID_METADATA)[0]?.toString() : undefined;
      if (refusedId !== undefined) {
        // The server named the one bad event: drop it for good, resend the rest at once.
        const refused = resend.filter((entry) => entry.message.event_id === refusedId);
        resend = resend.filter((entry) => entry.message.event_id !== refusedId);
        for (const entry of refused) unconfirmed.delete(entry.n);
        counts.rejected += refused.length;
        logger.error(
          { eventId: refusedId, field: error.metadata.get(AUDIT_INVALID_FIELD_METADATA)[0]?.toString(), reason: error.details, source: options.source },
          'audit service refused an invalid event; it is dropped',
        );
      } else {
        failures += 1;
        const log = failures === 1 ? logger.warn.bind(logger) : logger.debug.bind(logger);
        log(
          { code: error.code, reason: error.details, resending: resend.length, failures, source: options.source },
          'audit stream failed; resending unconfirmed events',
        );
        startBackoff();
      }
      // Back to the front, so resends go out before newer events.
      waiting = resend.concat(waiting);
    }
    settleFlushWaiters();
    schedulePump();
  }

  function startBackoff(): void {
    if (phase.kind !== 'ready') return;
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(failures - 1, 20));
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    phase = {
      kind: 'backoff',
      timer: setTimeout(() => {
        if (phase.kind === 'backoff') phase = { kind: 'ready' };
        schedulePump();
      }, delay),
    };
  }

  function settleFlushWaiters(): void {
    const oldest = unconfirmed.keys().next();
    for (const waiter of flushWaiters) {
      if (oldest.done === true || oldest.value > waiter.upTo) {
        clearTimeout(waiter.timer);
        flushWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  function toMessage(draft: AuditEventDraft): AuditEventInput {
    return {
      event_id: draft.eventId,
      at: draft.at,
      actor: draft.actor,
      action: draft.action,
      subject_type: draft.subjectType,
      subject_id: draft.subjectId,
      poll_id: draft.pollId ?? '',
      trace_id: draft.traceId ?? '',
      data_json: draft.data === undefined ? '' : JSON.stringify(draft.data),
    };
  }

  function flush(timeoutMs = 5000): Promise<void> {
    const upTo = lastNumber;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        flushWaiters.delete(waiter);
        reject(new Error(`audit flush timed out after ${timeoutMs} ms with ${unconfirmed.size} events unconfirmed`));
      }, timeoutMs);
      const waiter: FlushWaiter = { upTo, resolve, timer };
      flushWaiters.add(waiter);
      settleFlushWaiters();
      if (flushWaiters.has(waiter) && active) halfClose(active);
    });
  }

  return {
    record(draft) {
      try {
        if (!accepting) return drop('the audit client is closed', { eventId: draft.eventId });
        if (!UUID_PATTERN.test(draft.eventId)) return drop('eventId is not a UUID', { eventId: draft.eventId });
        if (unconfirmed.size >= maxBuffered) return drop('the audit buffer is full (the audit service is down or slow)');
        lastNumber += 1;
        const entry: Entry = { n: lastNumber, message: toMessage(draft) };
        unconfirmed.set(entry.n, entry);
        waiting.push(entry);
        schedulePump();
      } catch (error) {
        // JSON.stringify of `data` (a BigInt, a cycle) is the only thing above that can throw.
        drop('the event could not be encoded', { eventId: draft.eventId, err: error });
      }
    },
    flush,
    close() {
      closing ??= (async () => {
        accepting = false;
        try {
          await flush(options.closeTimeoutMs ?? 5000);
        } catch (error) {
          logger.warn({ err: error, unconfirmed: unconfirmed.size, source: options.source }, 'audit client closed with unconfirmed events');
        }
        if (phase.kind === 'backoff') clearTimeout(phase.timer);
        phase = { kind: 'closed' };
        if (active) halfClose(active);
        client.close();
      })();
      return closing;
    },
    stats: () => ({ buffered: unconfirmed.size, ...counts }),
  };
}
