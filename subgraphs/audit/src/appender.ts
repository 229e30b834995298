// Groups events submitted by every ingest stream into small batches (up to `maxBatch` events or
// `maxDelayMs` after the first one waits) and appends one batch at a time. The store serializes
// appends across replicas with an advisory lock; running one batch at a time here keeps this
// process from queueing several transactions (and pool connections) behind that lock.
// Each append is one `audit.append_batch` span (its SQL inside), a trace of its own: a batch mixes
// events from many senders, whichever ingest stream happened to fill it is not its parent.
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Logger } from '@votemesh/common/logger';
import { ATTR, SPAN_NAMES, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { withSpan } from '@votemesh/common/telemetry/propagation';
import type { ChainedContent } from './chain.ts';
import type { AuditMetrics } from './metrics.ts';
import type { AuditStore, StoredEvent } from './store.ts';

export type AppendOutcome = { readonly kind: 'appended'; readonly seq: bigint } | { readonly kind: 'duplicate' };

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
  submit(event: ChainedContent): Promise<AppendOutcome>;
  /** Appends what is queued, then refuses new events. Safe to call twice. */
  close(): Promise<void>;
}

interface Waiting {
  readonly event: ChainedContent;
  resolve(outcome: AppendOutcome): void;
  reject(error: unknown): void;
}

const tracer = trace.getTracer(TRACER_NAMES.audit);

type State =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting'; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'appending'; readonly done: Promise<void> };

export function createAppender(options: AppenderOptions): Appender {
  const maxBatch = options.maxBatch ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 100;
  let queue: Waiting[] = [];
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

  async function appendBatch(batch: readonly Waiting[]): Promise<void> {
    const stopTimer = options.metrics.appendBatchSeconds.startTimer();
    try {
      const result = await withSpan(
        tracer,
        SPAN_NAMES.auditAppendBatch,
        { [ATTR.BATCH_SIZE]: batch.length },
        (span) =>
          options.store.append(batch.map((waiting) => waiting.event)).then((appended) => {
            span.setAttribute(ATTR.AUDIT_APPENDED, appended.appended.length);
            return appended;
          }),
        { parent: ROOT_CONTEXT },
      );
      stopTimer();
      options.metrics.appendBatchSize.observe(batch.length);
      const seqById = new Map(result.appended.map((event) => [event.eventId, event.seq]));
      for (const event of result.appended) options.metrics.appended.inc({ action: event.action });
      options.metrics.duplicates.inc(batch.length - result.appended.length);
      for (const waiting of batch) {
        const seq = seqById.get(waiting.event.eventId);
        // An event id repeated inside one batch is appended once; the first submitter gets the seq.
        if (seq !== undefined) seqById.delete(waiting.event.eventId);
        waiting.resolve(seq === undefined ? { kind: 'duplicate' } : { kind: 'appended', seq });
      }
      if (result.appended.length > 0) options.onAppended(result.appended);
    } catch (error) {
      stopTimer();
      options.logger.error({ err: error, events: batch.length }, 'audit append failed; senders will resend');
      for (const waiting of batch) waiting.reject(error);
    }
  }

  return {
    submit(event) {
      if (closed) return Promise.reject(new Error('audit appender is closed'));
      return new Promise<AppendOutcome>((resolve, reject) => {
        queue.push({ event, resolve, reject });
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
