// The audit client's link to the audit service: whether a call may open now (ready; backing off
// after a failed call, so a down audit service is not hammered; closed for good) and which protocol
// the next call speaks (RecordBatch, or Record for a while after an audit service from before
// RecordBatch answered UNIMPLEMENTED). The sender (audit-sender.ts) asks before every call and
// reports how each call ended; the calls themselves are audit-call.ts.
import type { ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../logger.ts';
import type { IngestProtocol } from './audit-call.ts';

type Phase = { readonly kind: 'ready' } | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout } | { readonly kind: 'closed' };

export interface AuditLinkOptions {
  readonly logger: Logger;
  readonly source: string;
  /** How long calls go over Record after an UNIMPLEMENTED answer to RecordBatch. */
  readonly batchRetryMs: number;
  /** First backoff delay, doubled per consecutive failure (with jitter) up to `backoffMaxMs`. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** A backoff ended: calls may open again. */
  readonly onReady: () => void;
}

export interface AuditLink {
  /** A call may open now (not backing off, not closed). */
  readonly ready: boolean;
  /** The protocol of a call opened now. */
  protocol(): IngestProtocol;
  /** A call completed: the stream works (again). */
  succeeded(): void;
  /** The audit service answered RecordBatch with UNIMPLEMENTED: Record for `batchRetryMs`. */
  lacksBatch(): void;
  /** A call failed (neither refused nor UNIMPLEMENTED) and `resending` events go again: backs off. */
  failed(error: ServiceError, resending: number): void;
  /** Stops backing off; no call opens any more. */
  close(): void;
}

export function createAuditLink(options: AuditLinkOptions): AuditLink {
  const { logger, source, batchRetryMs, backoffInitialMs, backoffMaxMs } = options;
  let phase: Phase = { kind: 'ready' };
  /** Until then calls go over Record: the audit service answered RecordBatch with UNIMPLEMENTED. */
  let singleUntil = 0;
  let failures = 0;

  function startBackoff(): void {
    if (phase.kind !== 'ready') return;
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(failures - 1, 20));
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    phase = {
      kind: 'backoff',
      timer: setTimeout(() => {
        if (phase.kind === 'backoff') phase = { kind: 'ready' };
        options.onReady();
      }, delay),
    };
  }

  return {
    get ready() {
      return phase.kind === 'ready';
    },
    protocol: () => (Date.now() < singleUntil ? 'single' : 'batch'),
    succeeded() {
      if (failures > 0) logger.info({ failures, source }, 'audit stream recovered; unconfirmed events were resent');
      failures = 0;
    },
    lacksBatch() {
      singleUntil = Date.now() + batchRetryMs;
      logger.warn({ source, retryInMs: batchRetryMs }, 'audit service lacks RecordBatch; sending one event per message for now');
    },
    failed(error, resending) {
      failures += 1;
      const log = failures === 1 ? logger.warn.bind(logger) : logger.debug.bind(logger);
      log({ code: error.code, reason: error.details, resending, failures, source }, 'audit stream failed; resending unconfirmed events');
      startBackoff();
    },
    close() {
      if (phase.kind === 'backoff') clearTimeout(phase.timer);
      phase = { kind: 'closed' };
    },
  };
}
