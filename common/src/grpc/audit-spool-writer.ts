// Batches the audit client's spool traffic: members recorded in one tick go to Redis in one ZADD
// (issued before the event can be sent, so on the one connection the ZREM of its confirmation
// always comes after it), confirmations in one ZREM per completed call. `persisted()` lets a caller
// wait until what it recorded is durable (the worker does, before it acknowledges a batch).
import type { AuditSpool } from './audit-spool.ts';

export interface SpoolWriter {
  add(member: string): void;
  /** Removes members (confirmed or refused events) from the spool, in the background. */
  forget(members: readonly string[]): void;
  /** Resolves once every member added so far is in Redis; rejects if a write since the last call failed. */
  persisted(): Promise<void>;
  /** Waits for the writes in flight (at close, before the connection goes). */
  settled(): Promise<void>;
}

export function createSpoolWriter(spool: AuditSpool, onError: (error: unknown, what: 'write' | 'remove', count: number) => void): SpoolWriter {
  let queued: { member: string; at: number }[] = [];
  let scheduled = false;
  const inFlight = new Set<Promise<unknown>>();
  let failure: unknown;

  function track(work: Promise<void>, what: 'write' | 'remove', count: number): void {
    const settled = work.then(
      () => undefined,
      (error: unknown) => {
        if (what === 'write') failure = error;
        onError(error, what, count);
      },
    );
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  }

  function write(): void {
    scheduled = false;
    if (queued.length === 0) return;
    const batch = queued;
    queued = [];
    track(spool.save(batch), 'write', batch.length);
  }

  return {
    add(member) {
      queued.push({ member, at: Date.now() });
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(write);
    },
    forget(members) {
      if (members.length > 0) track(spool.remove(members), 'remove', members.length);
    },
    async persisted() {
      write();
      await Promise.all(inFlight);
      const failed = failure;
      failure = undefined;
      if (failed !== undefined) throw new Error(`the audit spool (${spool.key}) could not be written`, { cause: failed });
    },
    async settled() {
      write();
      await Promise.all(inFlight);
    },
  };
}
