// The AuditSink every process sends audit events through: an AuditIngest client that never blocks
// or throws in `record`, buffers (bounded) what the audit service has not confirmed yet, and resends
// it after a lost stream. Events that accumulate over a few milliseconds travel as one RecordBatch
// message (grpc-js costs about the same CPU per message whatever its size, on both ends). Only a
// completed call (RecordSummary) confirms its events, so the open call is rotated every
// `rotateEveryMs` or `rotateEveryEvents`; the server ignores resent event ids, so "resend
// everything unconfirmed" delivers each event exactly once into the log. With a spool (Redis,
// audit-spool.ts) unconfirmed events also outlive the process: written when recorded (a staged
// event by the caller's own Redis transaction instead, atomically with its other writes: castVote's
// vote.accepted), removed when confirmed, adopted by the next start (or by a sibling replica) and
// sent again.
// Traces: the call is shared by every operation that records an event, so everything the client
// does (the call, its timers, the spool traffic) runs in the root context (`inRootContext`): the
// AuditIngest call span is the root of a trace of its own, never part of the request whose event
// happened to open it. An event names its operation's trace in `trace_id` instead.
// Contract: docs/contracts/audit.md.
// This module puts the parts together and owns the order of shutdown: audit-intake.ts (how events
// enter), audit-held.ts (what is unconfirmed, and the flushes waiting for it), audit-sender.ts (the
// calls that carry it; audit-link.ts says when they may open), audit-outbox.ts, audit-call.ts, the
// spool (audit-spool.ts, its writer and its adopter) and audit-client-metrics.ts.
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import type { AuditEventDraft, AuditSink, StagedAuditEvent } from '../contracts/audit.ts';
import type { AuditClientCounts, AuditClientOptions, AuditClientStats } from './audit-client-options.ts';
import { createAuditClientMetrics } from './audit-client-metrics.ts';
import { createHeldEvents } from './audit-held.ts';
import { createAuditIntake } from './audit-intake.ts';
import { createAuditSender } from './audit-sender.ts';
import { startSpoolAdopter } from './audit-spool-adopter.ts';
import { createSpoolWriter } from './audit-spool-writer.ts';
import { inRootContext } from '../telemetry/propagation.ts';
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
  /**
   * Resolves once the events of `eventIds` (every event recorded so far, without it) are in the
   * spool or confirmed (at once without a spool), writing again those whose spool write had failed;
   * rejects if any of them could not be written. Call it right after recording them.
   */
  persisted(eventIds?: readonly string[]): Promise<void>;
  /**
   * The event's spool ZADD for the caller's own Redis transaction, which must run on the Redis the
   * spool lives on (the vote subgraph's one connection), and `record` for after it (AuditSink.stage).
   */
  stage(event: AuditEventDraft): StagedAuditEvent;
}

export function createAuditClient(options: AuditClientOptions): AuditClient {
  const { logger, source, spool } = options;
  const maxBuffered = options.maxBuffered ?? 100_000;
  const { AuditIngest } = loadAuditProto().votemesh.audit.v1;
  const client = new AuditIngest(options.address, options.credentials ?? grpcCredentials.createInsecure(), clientKeepaliveOptions(options.keepalive));

  const counts: AuditClientCounts = {
    confirmed: 0,
    dropped: 0,
    rejected: 0,
    callsOpened: 0,
    callsFailed: 0,
    messagesSent: 0,
    overflowed: 0,
    resent: 0,
    spoolErrors: 0,
  };
  const metrics = createAuditClientMetrics(options.registry, {
    buffered: () => held.size,
    spooled: spool && (options.spoolSize ?? (() => spool.size())),
    unspooled: spool && (() => spoolWriter?.unspooled() ?? 0),
  });
  const spoolWriter =
    spool &&
    createSpoolWriter(spool, {
      retryMs: options.spoolRetryMs ?? 1000,
      onError(error, what, count) {
        counts.spoolErrors += 1;
        metrics.spoolError();
        // A failed removal only means a harmless resend later; a failed write leaves events in memory
        // only until a retry of it succeeds (votemesh_audit_client_unspooled counts them).
        const log = what === 'write' ? logger.warn.bind(logger) : logger.debug.bind(logger);
        log({ err: error, count, spool: spool.key, source }, `audit spool ${what} failed`);
      },
    });
  const held = createHeldEvents({ forget: (members) => spoolWriter?.forget(members) });
  const sender = createAuditSender({
    client,
    logger,
    source,
    held,
    counts,
    metrics,
    batchDelayMs: options.batchDelayMs ?? 20,
    maxBatchEvents: options.maxBatchEvents ?? 500,
    maxBatchBytes: options.maxBatchBytes ?? 1024 * 1024,
    batchRetryMs: options.batchRetryMs ?? 60_000,
    rotateEveryMs: options.rotateEveryMs ?? 1000,
    rotateEveryEvents: options.rotateEveryEvents ?? 5000,
    callDeadlineMs: options.callDeadlineMs ?? 30_000,
    backoffInitialMs: options.backoffInitialMs ?? 100,
    backoffMaxMs: options.backoffMaxMs ?? 5000,
  });
  const intake = createAuditIntake({ logger, source, maxBuffered, spool, spoolWriter, held, sender, counts, metrics });
  let closing: Promise<void> | undefined;

  function flush(timeoutMs = 5000): Promise<void> {
    return held.whenConfirmed(timeoutMs, sender.collect);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      intake.stop();
      adopter?.stop();
      try {
        await flush(options.closeTimeoutMs ?? 5000);
      } catch (error) {
        logger.warn(
          { err: error, unconfirmed: held.size, source, spool: spool?.key },
          spool ? 'audit client closed with unconfirmed events; they stay in the spool for the next start' : 'audit client closed with unconfirmed events',
        );
      }
      // Writes and removals in flight finish before the caller closes the Redis connection.
      await spoolWriter?.settled();
      sender.close();
      client.close();
    })();
    return closing;
  }

  // Every way in runs in the root context (see the top of the file): the microtasks, timers, call
  // and spool writes it starts inherit that instead of the caller's trace.
  const auditClient: AuditClient = {
    record: (draft) => inRootContext(() => intake.record(draft)),
    flush: (timeoutMs) => inRootContext(() => flush(timeoutMs)),
    persisted: (eventIds) => inRootContext(() => intake.persisted(eventIds)),
    stage(draft) {
      const staged = intake.stage(draft);
      return { ...staged, record: (spooled) => inRootContext(() => staged.record(spooled)) };
    },
    close: () => inRootContext(close),
    stats: () => ({ buffered: held.size, unspooled: spoolWriter?.unspooled() ?? 0, ...counts }),
  };
  // What earlier runs (or dead replicas) left unconfirmed goes out first.
  const adopter =
    spool &&
    startSpoolAdopter({
      spool,
      logger,
      source,
      everyMs: options.spoolAdoptEveryMs ?? 10_000,
      afterMs: options.spoolAdoptAfterMs ?? 30_000,
      room: intake.room,
      spooledHeld: () => held.spooled,
      isHeld: (eventId) => held.get(eventId) !== undefined,
      hold: intake.adopt,
      adopted(count) {
        counts.resent += count;
        metrics.resent('spool', count);
        sender.sendNow();
      },
      discard: (member) => spoolWriter?.forget([member]),
    });
  return auditClient;
}
