// Groups events submitted by every ingest stream into small batches (up to `maxBatch` events or
// `maxDelayMs` after the first one waits) and appends one batch at a time. The store serializes
// appends across replicas with an advisory lock; running one batch at a time here keeps this
// process from queueing several transactions (and pool connections) behind that lock. A submit
// (the events of one ingest message) may straddle two batches; it settles when its last one commits.
// Each append is one `audit.append_batch` span (its SQL inside), a trace of its own: a batch mixes
// events from many senders, whichever ingest stream happened to fill it is not its parent.
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { ATTR, SPAN_NAMES, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { withSpan } from '@votemesh/common/telemetry/propagation';
import type { ChainedContent } from './chain.ts';
import type { AuditMetrics } from './metrics.ts';
import type { AppendResult, AuditStore, StoredEvent } from './store.ts';

/** What became of the events of one `submit`. */
export interface SubmitOutcome {
  /** Added to the chain by this submit. */
  readonly appended: number;
  /** Already recorded (or repeated earlier in the queue) and skipped. */
  readonly duplicates: number;
  /** The highest seq this submit appended, 0n if none. */
  readonly lastSeq: bigint;
}

export interface AppenderOptions {
  readonly store: AuditStore;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  /** Called after each commit with the events it appended, in seq order. */
  readonly onAppended: (events: readonly StoredEvent[]) => void;
  /** @default 500 */
  readonly maxBatch?: number;
  /** @default 100 */
  readonly maxDelayMs?: number;
}

export interface Appender {
  /**
   * Queues events (one ingest message's worth) and resolves once all of them are committed, or
   * rejects if any append they were part of failed (the sender resends; the ids make it safe).
   */
  submit(events: readonly ChainedContent[]): Promise<SubmitOutcome>;
  /** Appends what is queued, then refuses new events. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * SQLSTATE classes of a server that is not serving, whatever the data: 08 connection exception,
 * 53 insufficient resources (too many connections, disk full), 57 operator intervention (shutdown,
 * cannot connect now, statement cancelled), 58 system error (I/O).
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58']);

/**
 * True unless PostgreSQL answered with an error about the statement or its data (22 data
 * exception, 23 constraint violation, and anything else outside UNAVAILABLE_CLASSES), the case a
 * retry per submission can isolate. An error without a SQLSTATE is not the server's answer: the
 * pool could not connect (ECONNREFUSED, its connect timeout) or the connection broke.
 */
function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  // pg's DatabaseError: the server's answer, with its severity and SQLSTATE.
  const { severity, code } = error as { severity?: unknown; code?: unknown };
  if (typeof severity !== 'string' || typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return UNAVAILABLE_CLASSES.has(code.slice(0, 2));
}

/** One submit: settled when its last event's append has committed. */
interface Submission {
  pending: number;
  appended: number;
  duplicates: number;
  lastSeq: bigint;
  failed: boolean;
  resolve(outcome: SubmitOutcome): void;
  reject(error: unknown): void;
}

/** A queued event with the submit it belongs to: a submit may span two append transactions. */
interface Queued {
  readonly event: ChainedContent;
  readonly submission: Submission;
}

const tracer = trace.getTracer(TRACER_NAMES.audit);

type State =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting'; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'appending'; readonly done: Promise<void> };

export function createAppender(options: AppenderOptions): Appender {
  const maxBatch = options.maxBatch ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 100;
  let queue: Queued[] = [];
  let state: State = { kind: 'idle' };
  let closed = false;

  function schedule(): void {
    switch (state.kind) {
      case 'appending':
        return; // the running drain picks the queue up when its batch commits
      case 'waiting':
        if (queue.length < maxBatch) return;
        clearTimeout(state.timer);
        startDrain();
        return;
      case 'idle':
        if (queue.length >= maxBatch || closed) startDrain();
        else state = { kind: 'waiting', timer: setTimeout(startDrain, maxDelayMs) };
        return;
    }
  }

  function startDrain(): void {
    state = { kind: 'appending', done: drain() };
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      await appendBatch(batch);
    }
    state = { kind: 'idle' };
  }

  /**
   * Appends one batch. If it fails and holds several submissions, each is retried on its own:
   * one event PostgreSQL refuses then fails only its own ingest call, instead of every stream
   * that shared the batch, forever (the senders resend the same mix). The edge is meant to refuse
   * such events; this is the defence for what it misses. A batch that commits costs what it did.
   * A database that is down or not serving refuses every submission alike: retrying each would
   * only cost an attempt (a connect timeout, say) per submission, so the whole batch fails at once.
   */
  async function appendBatch(batch: readonly Queued[]): Promise<void> {
    const failure = await tryAppend(batch);
    if (failure === null) return;
    if (isDatabaseUnavailable(failure.error)) {
      const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
      return fail(batch, new VotemeshError('UPSTREAM_UNAVAILABLE', `the audit database is unavailable: ${reason}`, { cause: failure.error }));
    }
    const groups = bySubmission(batch);
    if (groups.length === 1) return fail(batch, failure.error);
    options.logger.warn({ err: failure.error, events: batch.length, submissions: groups.length }, 'audit append failed; retrying each submission alone');
    for (const group of groups) {
      const alone = await tryAppend(group);
      if (alone !== null) fail(group, alone.error);
    }
  }

  /** Appends and settles what committed; null on success, else the error (nothing settled). */
  async function tryAppend(batch: readonly Queued[]): Promise<{ readonly error: unknown } | null> {
    const stopTimer = options.metrics.appendBatchSeconds.startTimer();
    let result: AppendResult;
    try {
      result = await withSpan(
        tracer,
        SPAN_NAMES.auditAppendBatch,
        { [ATTR.BATCH_SIZE]: batch.length },
        (span) =>
          options.store.append(batch.map((queued) => queued.event)).then((appended) => {
            span.setAttribute(ATTR.AUDIT_APPENDED, appended.appended.length);
            return appended;
          }),
        { parent: ROOT_CONTEXT },
      );
    } catch (error) {
      stopTimer();
      return { error };
    }
    stopTimer();
    options.metrics.appendBatchSize.observe(batch.length);
    countAppended(result.appended);
    options.metrics.duplicates.inc(batch.length - result.appended.length);
    const seqById = new Map(result.appended.map((event) => [event.eventId, event.seq]));
    for (const { event, submission } of batch) {
      const seq = seqById.get(event.eventId);
      // An event id repeated inside one batch is appended once; the first submitter gets the seq.
      if (seq === undefined) submission.duplicates += 1;
      else {
        seqById.delete(event.eventId);
        submission.appended += 1;
        if (seq > submission.lastSeq) submission.lastSeq = seq;
      }
      submission.pending -= 1;
      if (submission.pending === 0 && !submission.failed) {
        submission.resolve({ appended: submission.appended, duplicates: submission.duplicates, lastSeq: submission.lastSeq });
      }
    }
    if (result.appended.length > 0) options.onAppended(result.appended);
    return null;
  }

  function fail(batch: readonly Queued[], error: unknown): void {
    options.logger.error({ err: error, events: batch.length }, 'audit append failed; senders will resend');
    for (const { submission } of batch) {
      if (submission.failed) continue;
      submission.failed = true;
      submission.reject(error);
    }
  }

  /** The batch's events grouped by submission, in order of first appearance. */
  function bySubmission(batch: readonly Queued[]): Queued[][] {
    const groups = new Map<Submission, Queued[]>();
    for (const queued of batch) {
      const group = groups.get(queued.submission);
      if (group) group.push(queued);
      else groups.set(queued.submission, [queued]);
    }
    return [...groups.values()];
  }

  /** One counter update per action and batch: prom-client hashes the labels on every `inc`. */
  function countAppended(appended: readonly StoredEvent[]): void {
    const byAction = new Map<string, number>();
    for (const event of appended) byAction.set(event.action, (byAction.get(event.action) ?? 0) + 1);
    for (const [action, count] of byAction) options.metrics.appended.inc({ action }, count);
  }

  return {
    submit(events) {
      if (closed) return Promise.reject(new Error('audit appender is closed'));
      if (events.length === 0) return Promise.resolve({ appended: 0, duplicates: 0, lastSeq: 0n });
      return new Promise<SubmitOutcome>((resolve, reject) => {
        const submission: Submission = { pending: events.length, appended: 0, duplicates: 0, lastSeq: 0n, failed: false, resolve, reject };
        for (const event of events) queue.push({ event, submission });
        schedule();
      });
    },
    async close() {
      closed = true;
      if (state.kind === 'waiting') {
        clearTimeout(state.timer);
        startDrain();
      }
      if (state.kind === 'appending') await state.done;
    },
  };
}
