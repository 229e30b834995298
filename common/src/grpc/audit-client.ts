// The AuditSink every process sends audit events through: an AuditIngest client that never blocks
// or throws in `record`, buffers (bounded) what the audit service has not confirmed yet, and resends
// it after a lost stream. Events that accumulate over a few milliseconds travel as one RecordBatch
// message (grpc-js costs about the same CPU per message whatever its size, on both ends). Only a
// completed call (RecordSummary) confirms its events, so the open call is rotated every
// `rotateEveryMs` or `rotateEveryEvents`; the server ignores resent event ids, so "resend
// everything unconfirmed" delivers each event exactly once into the log.
// Contract: docs/contracts/audit.md.
import { credentials as grpcCredentials, status, type ServiceError } from '@grpc/grpc-js';
import type { AuditSink } from '../contracts/audit.ts';
import { UUID_PATTERN } from '../contracts/parse.ts';
import { AUDIT_INVALID_FIELD_METADATA, openIngestCall, refusedEntries, type AuditEntry, type IngestCall, type IngestProtocol } from './audit-call.ts';
import type { AuditClientOptions, AuditClientStats } from './audit-client-options.ts';
import { createOutbox, toAuditEntry } from './audit-outbox.ts';
import { clientKeepaliveOptions } from './keepalive.ts';
import { loadAuditProto } from './load.ts';

export {
  AUDIT_INVALID_BATCH_INDEX_METADATA,
  AUDIT_INVALID_EVENT_ID_METADATA,
  AUDIT_INVALID_FIELD_METADATA,
  AUDIT_INVALID_MESSAGE_INDEX_METADATA,
  AUDIT_SOURCE_METADATA,
} from './audit-call.ts';
export type { AuditClientOptions, AuditClientStats } from './audit-client-options.ts';

export interface AuditClient extends AuditSink {
  stats(): AuditClientStats;
}

interface FlushWaiter {
  readonly upTo: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

interface OpenCall {
  readonly call: IngestCall;
  readonly timer: NodeJS.Timeout;
  blocked: boolean;
}

type Phase = { readonly kind: 'ready' } | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout } | { readonly kind: 'closed' };

export function createAuditClient(options: AuditClientOptions): AuditClient {
  const { logger } = options;
  const maxBuffered = options.maxBuffered ?? 100_000;
  const batchDelayMs = options.batchDelayMs ?? 20;
  const maxBatchEvents = options.maxBatchEvents ?? 500;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  const batchRetryMs = options.batchRetryMs ?? 60_000;
  const rotateEveryMs = options.rotateEveryMs ?? 1000;
  const rotateEveryEvents = options.rotateEveryEvents ?? 5000;
  const callDeadlineMs = options.callDeadlineMs ?? 30_000;
  const backoffInitialMs = options.backoffInitialMs ?? 100;
  const backoffMaxMs = options.backoffMaxMs ?? 5000;
  const { AuditIngest } = loadAuditProto().votemesh.audit.v1;
  const client = new AuditIngest(options.address, options.credentials ?? grpcCredentials.createInsecure(), clientKeepaliveOptions(options.keepalive));

  /** Every unconfirmed entry by its number; insertion order is number order. */
  const unconfirmed = new Map<number, AuditEntry>();
  const waiting = createOutbox({ maxEvents: maxBatchEvents, maxBytes: maxBatchBytes });
  /** Set once what is waiting should go without waiting for more: the delay passed, a flush, a resend. */
  let sendPartial = false;
  let batchTimer: NodeJS.Timeout | undefined;
  let active: OpenCall | undefined;
  const flushWaiters = new Set<FlushWaiter>();
  let phase: Phase = { kind: 'ready' };
  /** Until then calls go over Record: the audit service answered RecordBatch with UNIMPLEMENTED. */
  let singleUntil = 0;
  let accepting = true;
  let failures = 0;
  let lastNumber = 0;
  let pumpQueued = false;
  let closing: Promise<void> | undefined;
  const counts = { confirmed: 0, dropped: 0, rejected: 0, callsOpened: 0, callsFailed: 0, messagesSent: 0 };
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

  function sendWaitingNow(): void {
    sendPartial = true;
    schedulePump();
  }

  function pump(): void {
    if (phase.kind !== 'ready') return;
    while (waiting.length > 0) {
      if (active?.blocked) return;
      const room = rotateEveryEvents - (active?.call.events ?? 0);
      const { count, full } = waiting.nextMessage(room);
      if (!full && !sendPartial) {
        batchTimer ??= setTimeout(() => {
          batchTimer = undefined;
          sendWaitingNow();
        }, batchDelayMs);
        break;
      }
      const open = active ?? openCall();
      const entries = waiting.take(count);
      counts.messagesSent += open.call.protocol === 'batch' ? 1 : entries.length;
      // false: the transport buffer is full, so wait for 'drain' instead of piling more into memory there.
      if (!open.call.write(entries)) {
        open.blocked = true;
        open.call.onceDrained(() => {
          open.blocked = false;
          schedulePump();
        });
      }
      if (open.call.events >= rotateEveryEvents) halfClose(open);
    }
    if (waiting.length === 0) {
      sendPartial = false;
      clearTimeout(batchTimer);
      batchTimer = undefined;
    }
    // Someone is waiting for confirmations: don't let them wait for the rotation timer.
    if (flushWaiters.size > 0 && active) halfClose(active);
  }

  function openCall(): OpenCall {
    counts.callsOpened += 1;
    const protocol: IngestProtocol = Date.now() < singleUntil ? 'single' : 'batch';
    let open: OpenCall | undefined;
    const call = openIngestCall({ client, protocol, source: options.source, deadlineMs: callDeadlineMs, onDone: (error) => open && settle(open, error) });
    open = { call, blocked: false, timer: setTimeout(() => open && halfClose(open), rotateEveryMs) };
    active = open;
    return open;
  }

  function halfClose(open: OpenCall): void {
    clearTimeout(open.timer);
    if (active === open) active = undefined;
    open.call.end();
  }

  function settle(open: OpenCall, error: ServiceError | null): void {
    clearTimeout(open.timer);
    if (active === open) active = undefined;
    const entries = open.call.messages.flat();
    if (error === null) {
      for (const entry of entries) unconfirmed.delete(entry.n);
      counts.confirmed += entries.length;
      if (failures > 0) logger.info({ failures, source: options.source }, 'audit stream recovered; unconfirmed events were resent');
      failures = 0;
    } else {
      counts.callsFailed += 1;
      let resend = entries;
      const refused = error.code === status.INVALID_ARGUMENT ? refusedEntries(open.call, error) : undefined;
      if (error.code === status.UNIMPLEMENTED && open.call.protocol === 'batch') {
        // An audit service from before RecordBatch (mid rolling upgrade, or rolled back): it is
        // healthy, so resend at once over Record, and try RecordBatch again later.
        singleUntil = Date.now() + batchRetryMs;
        logger.warn({ source: options.source, retryInMs: batchRetryMs }, 'audit service lacks RecordBatch; sending one event per message for now');
      } else if (refused !== undefined) {
        // The server named the bad event: drop it for good; the rest (its batch included, none of
        // which was written) go again at once.
        const refusedNumbers = new Set(refused.map((entry) => entry.n));
        resend = entries.filter((entry) => !refusedNumbers.has(entry.n));
        for (const entry of refused) unconfirmed.delete(entry.n);
        counts.rejected += refused.length;
        logger.error(
          {
            eventId: refused[0]?.message.event_id,
            field: error.metadata.get(AUDIT_INVALID_FIELD_METADATA)[0]?.toString(),
            reason: error.details,
            source: options.source,
          },
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
      // Back to the front, so resends go out before newer events, without waiting for more.
      waiting.requeue(resend);
      sendPartial = true;
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
      if (!flushWaiters.has(waiter)) return;
      // Send what waits for company now; the pump then half-closes the call to collect confirmations.
      if (waiting.length > 0) sendWaitingNow();
      else if (active) halfClose(active);
    });
  }

  return {
    record(draft) {
      try {
        if (!accepting) return drop('the audit client is closed', { eventId: draft.eventId });
        if (!UUID_PATTERN.test(draft.eventId)) return drop('eventId is not a UUID', { eventId: draft.eventId });
        if (unconfirmed.size >= maxBuffered) return drop('the audit buffer is full (the audit service is down or slow)');
        const entry = toAuditEntry(lastNumber + 1, draft);
        lastNumber = entry.n;
        unconfirmed.set(entry.n, entry);
        waiting.push(entry);
        // A full message goes at once; otherwise the pump holds it for company (batchDelayMs at most).
        if (waiting.hasFullMessage()) sendWaitingNow();
        else schedulePump();
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
        clearTimeout(batchTimer);
        if (active) halfClose(active);
        client.close();
      })();
      return closing;
    },
    stats: () => ({ buffered: unconfirmed.size, ...counts }),
  };
}
