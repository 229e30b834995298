// Batches the audit client's spool traffic: members recorded in one tick go to Redis in one ZADD
// (issued before the event can be sent, so on the one connection the ZREM of its confirmation
// always comes after it), confirmations in one ZREM per completed call. `persisted(members)` lets a
// caller wait until what it recorded is durable (the worker does, before it acknowledges a batch).
// Durability is tracked per member, never as one flag for the whole client: a write that failed
// leaves its members marked unspooled until a later write of them succeeds, so a retried settle
// cannot pass without the write having really happened, and one caller's failure is neither
// reported to nor cleared by another caller waiting at the same time. Failed members are written
// again on their own, after `retryMs` (doubled per failed retry, up to RETRY_MAX_MS), and at once
// when one of them is recorded or waited for again; one that is confirmed meanwhile is forgotten.
import type { AuditSpool } from './audit-spool.ts';

/** The longest wait between two retries of failed spool writes. */
export const RETRY_MAX_MS = 30_000;

/** The outcome of one ZADD: undefined when Redis has its members, else the error. */
type WriteOutcome = Promise<unknown>;

/** A member Redis does not have yet (stored ones are forgotten: absent means durable or confirmed). */
type Pending =
  | { readonly status: 'queued'; readonly at: number; readonly once?: OnceDone }
  | { readonly status: 'writing'; readonly at: number; readonly write: WriteOutcome; readonly once?: OnceDone }
  | { readonly status: 'failed'; readonly at: number };

/** Told how the one write of a `once` member went (undefined: stored). */
type OnceDone = (error: unknown) => void;

export interface SpoolWriter {
  /**
   * Queues a member for the next ZADD. A `once` member is held nowhere else (memory was full): it
   * is written once, the outcome goes to `once`, and a failed one is not kept for another try.
   */
  add(member: string, once?: OnceDone): void;
  /** Queues again a member whose write failed (it was recorded again); otherwise does nothing. */
  retry(member: string): void;
  /** Removes members (confirmed or refused events) from the spool, in the background. */
  forget(members: readonly string[]): void;
  /**
   * Resolves once Redis has every one of `members` (every member added so far, without it), writing
   * again those whose write had failed; rejects if any of them could not be written. A member not
   * tracked here is durable already (stored, adopted from the spool, or confirmed by the audit service).
   */
  persisted(members?: readonly string[]): Promise<void>;
  /** Members whose write failed and that Redis does not have yet (held in memory only: a crash loses them). */
  unspooled(): number;
  /** Stops retrying, tries the failed members once more, and waits for the writes in flight (at close, before the connection goes). */
  settled(): Promise<void>;
}

export interface SpoolWriterOptions {
  /** First wait before failed writes are tried again; doubled per failed retry, up to RETRY_MAX_MS. */
  readonly retryMs: number;
  readonly onError: (error: unknown, what: 'write' | 'remove', count: number) => void;
}

export function createSpoolWriter(spool: AuditSpool, options: SpoolWriterOptions): SpoolWriter {
  const { onError } = options;
  const pending = new Map<string, Pending>();
  let queued: string[] = [];
  let scheduled = false;
  const inFlight = new Set<Promise<unknown>>();
  /** Members whose last write failed, until a write of them succeeds or they are forgotten. */
  const failedMembers = new Set<string>();
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = options.retryMs;
  let stopped = false;

  function track(work: Promise<void>, what: 'write' | 'remove', count: number): WriteOutcome {
    const outcome = work.then(
      () => undefined,
      (error: unknown) => {
        onError(error, what, count);
        return error ?? new Error('the audit spool write failed');
      },
    );
    inFlight.add(outcome);
    void outcome.finally(() => inFlight.delete(outcome));
    return outcome;
  }

  function enqueue(member: string, at: number, once?: OnceDone): void {
    pending.set(member, once ? { status: 'queued', at, once } : { status: 'queued', at });
    queued.push(member);
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(write);
  }

  function write(): void {
    scheduled = false;
    if (queued.length === 0) return;
    const batch: { member: string; at: number }[] = [];
    const sent: { member: string; once?: OnceDone }[] = [];
    for (const member of queued) {
      // Forgotten meanwhile (confirmed): writing it now would only leave a stale copy behind.
      const entry = pending.get(member);
      if (entry?.status !== 'queued') continue;
      batch.push({ member, at: entry.at });
      sent.push(entry.once ? { member, once: entry.once } : { member });
    }
    queued = [];
    if (batch.length === 0) return;
    const outcome = track(spool.save(batch), 'write', batch.length);
    for (const { member, once } of sent) {
      const at = pending.get(member)?.at ?? Date.now();
      pending.set(member, once ? { status: 'writing', at, write: outcome, once } : { status: 'writing', at, write: outcome });
    }
    void outcome.then((error) => {
      for (const { member, once } of sent) {
        const entry = pending.get(member);
        // Still this write's (not forgotten, not queued again meanwhile).
        if (entry?.status === 'writing' && entry.write === outcome) {
          if (error === undefined || once) {
            pending.delete(member);
            failedMembers.delete(member);
          } else {
            pending.set(member, { status: 'failed', at: entry.at });
            failedMembers.add(member);
          }
        }
        once?.(error);
      }
      if (error === undefined) {
        if (failedMembers.size === 0) retryDelayMs = options.retryMs;
      } else scheduleRetry();
    });
  }

  /** Queues again every member whose write failed (and is not being written again already). */
  function requeueFailed(): void {
    for (const member of failedMembers) {
      const entry = pending.get(member);
      if (entry?.status === 'failed') enqueue(member, entry.at);
    }
  }

  // A failed write is not left waiting for its event to be recorded again (the vote subgraph's never
  // are): the members are written again on a timer, backing off while Redis keeps refusing.
  function scheduleRetry(): void {
    if (stopped || retryTimer !== undefined || failedMembers.size === 0) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      retryDelayMs = Math.min(retryDelayMs * 2, RETRY_MAX_MS);
      requeueFailed();
    }, retryDelayMs);
    retryTimer.unref();
  }

  return {
    add(member, once) {
      enqueue(member, Date.now(), once);
    },
    retry(member) {
      const entry = pending.get(member);
      if (entry?.status === 'failed') enqueue(member, entry.at);
    },
    forget(members) {
      for (const member of members) {
        pending.delete(member);
        failedMembers.delete(member);
      }
      if (members.length > 0) void track(spool.remove(members), 'remove', members.length);
    },
    async persisted(members) {
      const wanted = members ?? [...pending.keys()];
      for (const member of wanted) {
        const entry = pending.get(member);
        if (entry?.status === 'failed') enqueue(member, entry.at);
      }
      write();
      const writes = new Set<WriteOutcome>();
      for (const member of wanted) {
        const entry = pending.get(member);
        if (entry?.status === 'writing') writes.add(entry.write);
      }
      const failed = (await Promise.all(writes)).find((error) => error !== undefined);
      if (failed !== undefined) throw new Error(`the audit spool (${spool.key}) could not be written`, { cause: failed });
    },
    unspooled: () => failedMembers.size,
    async settled() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      // One last try for what failed: at close it is that or losing those events.
      requeueFailed();
      write();
      await Promise.all(inFlight);
    },
  };
}
