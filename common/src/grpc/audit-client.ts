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
import { credentials as grpcCredentials, status, type ServiceError } from '@grpc/grpc-js';
import type { AuditEventDraft, AuditSink, StagedAuditEvent } from '../contracts/audit.ts';
import { UUID_PATTERN } from '../contracts/parse.ts';
import { AUDIT_INVALID_FIELD_METADATA, openIngestCall, refusedEntries, type AuditEntry, type IngestCall, type IngestProtocol } from './audit-call.ts';
import type { AuditClientOptions, AuditClientStats } from './audit-client-options.ts';
import { createAuditClientMetrics, type AuditDropReason } from './audit-client-metrics.ts';
import { createOutbox, entryOf, toAuditEntry } from './audit-outbox.ts';
import { spoolMember } from './audit-spool.ts';
import { startSpoolAdopter } from './audit-spool-adopter.ts';
import { createSpoolWriter } from './audit-spool-writer.ts';
import { inRootContext } from '../telemetry/propagation.ts';
import { clientKeepaliveOptions } from './keepalive.ts';
import { loadAuditProto } from './load.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';

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
  /** The same entries by event id (lowercase): a repeat (a retried settle, a spooled copy) is not held twice. */
  const heldIds = new Map<string, AuditEntry>();
  /** Members of events recorded while memory was full, by event id (lowercase), until their one spool write is done. */
  const overflowing = new Map<string, string>();
  /** How many held entries are in the spool: when it holds no more than that, there is nothing to adopt. */
  let spooledHeld = 0;
  const { spool } = options;
  const metrics = createAuditClientMetrics(options.registry, {
    buffered: () => unconfirmed.size,
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
        log({ err: error, count, spool: spool.key, source: options.source }, `audit spool ${what} failed`);
      },
    });
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
  const counts = { confirmed: 0, dropped: 0, rejected: 0, callsOpened: 0, callsFailed: 0, messagesSent: 0, overflowed: 0, resent: 0, spoolErrors: 0 };
  let lastDropLogAt = 0;

  function hold(entry: AuditEntry): void {
    unconfirmed.set(entry.n, entry);
    heldIds.set(entry.message.event_id?.toLowerCase() ?? '', entry);
    if (entry.member !== undefined) spooledHeld += 1;
    waiting.push(entry);
  }

  function release(entries: readonly AuditEntry[]): void {
    const members: string[] = [];
    for (const entry of entries) {
      unconfirmed.delete(entry.n);
      heldIds.delete(entry.message.event_id?.toLowerCase() ?? '');
      if (entry.member !== undefined) {
        members.push(entry.member);
        spooledHeld -= 1;
      }
    }
    spoolWriter?.forget(members);
  }

  function drop(reason: string, metricReason: AuditDropReason, extra: object = {}): void {
    counts.dropped += 1;
    metrics.dropped(metricReason);
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
      release(entries);
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
        release(refused);
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
      counts.resent += resend.length;
      metrics.resent('call_failed', resend.length);
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

  function record(draft: AuditEventDraft): void {
    try {
      if (!accepting) return drop('the audit client is closed', 'closed', { eventId: draft.eventId });
      if (!UUID_PATTERN.test(draft.eventId)) return drop('eventId is not a UUID', 'invalid_id', { eventId: draft.eventId });
      const id = draft.eventId.toLowerCase();
      // Already held (a settle retried, a copy adopted from the spool): sending it once is enough,
      // but if its spool write failed, it is written again (the retry waits for that in persisted).
      const held = heldIds.get(id);
      if (held) {
        if (held.member !== undefined) spoolWriter?.retry(held.member);
        return;
      }
      if (overflowing.has(id)) return;
      const built = toAuditEntry(lastNumber + 1, draft);
      if (unconfirmed.size >= maxBuffered) {
        if (!spoolWriter) return drop('the audit buffer is full (the audit service is down or slow)', 'buffer_full');
        // Memory is full: keep it in the spool only; adoption sends it once there is room. Written
        // through the writer like the rest, so persisted() waits for it and close() lets it finish.
        const member = spoolMember(built.message);
        overflowing.set(id, member);
        spoolWriter.add(member, (error) => {
          overflowing.delete(id);
          if (error !== undefined) return drop('the audit buffer is full and the spool could not take the event', 'buffer_full', { eventId: draft.eventId });
          counts.overflowed += 1;
          metrics.overflowed();
        });
        return;
      }
      const entry = spoolWriter ? { ...built, member: spoolMember(built.message) } : built;
      lastNumber = entry.n;
      // The spool write is issued (next microtask) before the pump can write the event to a call.
      if (entry.member !== undefined) spoolWriter?.add(entry.member);
      hold(entry);
      sendSoon();
    } catch (error) {
      // JSON.stringify of `data` (a BigInt, a cycle) is the only thing above that can throw.
      drop('the event could not be encoded', 'unencodable', { eventId: draft.eventId, err: error });
    }
  }

  /** After holding an entry: a full message goes at once; otherwise the pump holds it for company (batchDelayMs at most). */
  function sendSoon(): void {
    if (waiting.hasFullMessage()) sendWaitingNow();
    else schedulePump();
  }

  function stage(draft: AuditEventDraft): StagedAuditEvent {
    // Without a spool, or for an event `record` would drop anyway: recorded (and reported) as usual.
    const asUsual: StagedAuditEvent = { record: () => record(draft) };
    if (!spool || !UUID_PATTERN.test(draft.eventId)) return asUsual;
    let message: AuditEventInput;
    try {
      message = toAuditEntry(0, draft).message;
    } catch {
      return asUsual;
    }
    const member = spoolMember(message);
    return {
      spoolWrite: { key: spool.key, score: Date.now(), member },
      record: (spooled) => (spooled ? recordSpooled(message, member) : record(draft)),
    };
  }

  /** An event its caller's transaction wrote to the spool: held and sent like the rest, not written again. */
  function recordSpooled(message: AuditEventInput, member: string): void {
    // It is durable whatever happens here: once closed, the next start (or a sibling) adopts it.
    if (!accepting) return;
    const id = (message.event_id ?? '').toLowerCase();
    if (heldIds.has(id) || overflowing.has(id)) return;
    if (unconfirmed.size >= maxBuffered) {
      // Memory is full: it waits in the spool, like an overflow, and is adopted once there is room.
      counts.overflowed += 1;
      metrics.overflowed();
      return;
    }
    lastNumber += 1;
    hold(entryOf(lastNumber, message, member));
    sendSoon();
  }

  function persisted(eventIds: readonly string[] | undefined): Promise<void> {
    if (!spoolWriter) return Promise.resolve();
    if (eventIds === undefined) return spoolWriter.persisted();
    const members: string[] = [];
    for (const eventId of eventIds) {
      const id = eventId.toLowerCase();
      // Neither held nor overflowing: confirmed already (or never recorded), nothing to wait for.
      const member = heldIds.get(id)?.member ?? overflowing.get(id);
      if (member !== undefined) members.push(member);
    }
    return spoolWriter.persisted(members);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      accepting = false;
      adopter?.stop();
      try {
        await flush(options.closeTimeoutMs ?? 5000);
      } catch (error) {
        logger.warn(
          { err: error, unconfirmed: unconfirmed.size, source: options.source, spool: spool?.key },
          spool ? 'audit client closed with unconfirmed events; they stay in the spool for the next start' : 'audit client closed with unconfirmed events',
        );
      }
      // Writes and removals in flight finish before the caller closes the Redis connection.
      await spoolWriter?.settled();
      if (phase.kind === 'backoff') clearTimeout(phase.timer);
      phase = { kind: 'closed' };
      clearTimeout(batchTimer);
      if (active) halfClose(active);
      client.close();
    })();
    return closing;
  }

  // Every way in runs in the root context (see the top of the file): the microtasks, timers, call
  // and spool writes it starts inherit that instead of the caller's trace.
  const auditClient: AuditClient = {
    record: (draft) => inRootContext(() => record(draft)),
    flush: (timeoutMs) => inRootContext(() => flush(timeoutMs)),
    persisted: (eventIds) => inRootContext(() => persisted(eventIds)),
    stage(draft) {
      const staged = stage(draft);
      return { ...staged, record: (spooled) => inRootContext(() => staged.record(spooled)) };
    },
    close: () => inRootContext(close),
    stats: () => ({ buffered: unconfirmed.size, unspooled: spoolWriter?.unspooled() ?? 0, ...counts }),
  };
  // What earlier runs (or dead replicas) left unconfirmed goes out first.
  const adopter =
    spool &&
    startSpoolAdopter({
      spool,
      logger,
      source: options.source,
      everyMs: options.spoolAdoptEveryMs ?? 10_000,
      afterMs: options.spoolAdoptAfterMs ?? 30_000,
      room: () => (accepting ? maxBuffered - unconfirmed.size : 0),
      spooledHeld: () => spooledHeld,
      isHeld: (eventId) => heldIds.has(eventId.toLowerCase()),
      hold(message, member) {
        lastNumber += 1;
        hold(entryOf(lastNumber, message, member));
      },
      adopted(count) {
        counts.resent += count;
        metrics.resent('spool', count);
        sendWaitingNow();
      },
      discard: (member) => spoolWriter?.forget([member]),
    });
  return auditClient;
}
