// The audit client's sender: moves held entries from the outbox onto AuditIngest calls, packing
// what accumulates over `batchDelayMs` into one message, and settles each call when it completes:
// a confirmed call releases its entries; a failed one puts them back at the front of the outbox
// (all but an event the server refused by name, which is dropped). Only a completed call confirms,
// so the open call is rotated every `rotateEveryMs` or `rotateEveryEvents` events, and half-closed
// at once while a flush waits. Why batches and rotation: the top of audit-client.ts. When calls may
// open, and on which protocol, is the link's (audit-link.ts).
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../logger.ts';
import { AUDIT_INVALID_FIELD_METADATA, openIngestCall, refusedEntries, type AuditEntry, type IngestCall } from './audit-call.ts';
import type { AuditClientMetrics } from './audit-client-metrics.ts';
import type { AuditClientCounts } from './audit-client-options.ts';
import type { HeldEvents } from './audit-held.ts';
import { createAuditLink } from './audit-link.ts';
import { createOutbox } from './audit-outbox.ts';
import type { AuditIngestClient } from './generated/votemesh/audit/v1/AuditIngest.ts';

export interface AuditSenderOptions {
  readonly client: AuditIngestClient;
  readonly logger: Logger;
  readonly source: string;
  /** Releases confirmed and refused entries, and wants calls half-closed at once while a flush waits. */
  readonly held: HeldEvents;
  readonly counts: AuditClientCounts;
  readonly metrics: AuditClientMetrics;
  readonly batchDelayMs: number;
  readonly maxBatchEvents: number;
  readonly maxBatchBytes: number;
  readonly batchRetryMs: number;
  readonly rotateEveryMs: number;
  readonly rotateEveryEvents: number;
  readonly callDeadlineMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export interface AuditSender {
  /** Adds a held entry to the outbox (send it with `sendSoon`). */
  queue(entry: AuditEntry): void;
  /** After queueing: a full message goes at once; otherwise the pump holds it for company (batchDelayMs at most). */
  sendSoon(): void;
  /** Sends what is waiting without waiting for more (adopted events). */
  sendNow(): void;
  /** Gets confirmations now (a flush waits for them). */
  collect(): void;
  /** Sends nothing more and half-closes the open call (at close, after the last flush). */
  close(): void;
}

interface OpenCall {
  readonly call: IngestCall;
  readonly timer: NodeJS.Timeout;
  blocked: boolean;
}

export function createAuditSender(options: AuditSenderOptions): AuditSender {
  const { logger, held, counts, metrics, batchDelayMs, rotateEveryMs, rotateEveryEvents } = options;
  const link = createAuditLink({
    logger,
    source: options.source,
    batchRetryMs: options.batchRetryMs,
    backoffInitialMs: options.backoffInitialMs,
    backoffMaxMs: options.backoffMaxMs,
    onReady: schedulePump,
  });
  const waiting = createOutbox({ maxEvents: options.maxBatchEvents, maxBytes: options.maxBatchBytes });
  /** Set once what is waiting should go without waiting for more: the delay passed, a flush, a resend. */
  let sendPartial = false;
  let batchTimer: NodeJS.Timeout | undefined;
  let active: OpenCall | undefined;
  let pumpQueued = false;

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
    if (!link.ready) return;
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
    if (held.awaited && active) halfClose(active);
  }

  function openCall(): OpenCall {
    counts.callsOpened += 1;
    let open: OpenCall | undefined;
    const call = openIngestCall({
      client: options.client,
      protocol: link.protocol(),
      source: options.source,
      deadlineMs: options.callDeadlineMs,
      onDone: (error) => open && settle(open, error),
    });
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
      held.release(entries);
      counts.confirmed += entries.length;
      link.succeeded();
    } else {
      counts.callsFailed += 1;
      let resend = entries;
      const refused = error.code === status.INVALID_ARGUMENT ? refusedEntries(open.call, error) : undefined;
      if (error.code === status.UNIMPLEMENTED && open.call.protocol === 'batch') {
        // An audit service from before RecordBatch (mid rolling upgrade, or rolled back): it is
        // healthy, so resend at once over Record, and try RecordBatch again later.
        link.lacksBatch();
      } else if (refused !== undefined) {
        // The server named the bad event: drop it for good; the rest (its batch included, none of
        // which was written) go again at once.
        const refusedNumbers = new Set(refused.map((entry) => entry.n));
        resend = entries.filter((entry) => !refusedNumbers.has(entry.n));
        held.release(refused);
        counts.rejected += refused.length;
        for (const _ of refused) metrics.dropped('refused');
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
        link.failed(error, resend.length);
      }
      // Back to the front, so resends go out before newer events, without waiting for more.
      waiting.requeue(resend);
      counts.resent += resend.length;
      metrics.resent('call_failed', resend.length);
      sendPartial = true;
    }
    held.settleWaiters();
    schedulePump();
  }

  return {
    queue: (entry) => waiting.push(entry),
    sendSoon() {
      if (waiting.hasFullMessage()) sendWaitingNow();
      else schedulePump();
    },
    sendNow: sendWaitingNow,
    collect() {
      // Send what waits for company now; the pump then half-closes the call to collect confirmations.
      if (waiting.length > 0) sendWaitingNow();
      else if (active) halfClose(active);
    },
    close() {
      link.close();
      clearTimeout(batchTimer);
      if (active) halfClose(active);
    },
  };
}
