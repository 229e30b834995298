// The audit client's held events: every entry in memory that the audit service has not confirmed
// yet (waiting in the outbox, or sent on a call that has not completed), numbered in the order they
// were held, and the flushes waiting for them. A flush waits for the numbers held when it began, so
// events recorded after it do not keep it waiting. Entries are also found by event id: a repeat (a
// retried settle, a spooled copy) is not held twice.
import type { AuditEntry } from './audit-call.ts';

interface FlushWaiter {
  readonly upTo: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

export interface HeldEventsOptions {
  /** Removes the spool members of released entries (in the background). */
  readonly forget: (members: readonly string[]) => void;
}

export interface HeldEvents {
  /** Entries held (unconfirmed). */
  readonly size: number;
  /** How many held entries are in the spool: when it holds no more than that, there is nothing to adopt. */
  readonly spooled: number;
  /** Someone waits in `whenConfirmed`: the sender then half-closes calls without waiting for rotation. */
  readonly awaited: boolean;
  /** The number the next entry held must have. */
  nextNumber(): number;
  /** The held entry of an event id (compared ignoring case, as the server does). */
  get(eventId: string): AuditEntry | undefined;
  /** Holds an entry numbered `nextNumber()`. */
  hold(entry: AuditEntry): void;
  /** Confirmed or refused: no longer held, and their spool members are forgotten. */
  release(entries: readonly AuditEntry[]): void;
  /**
   * Resolves once every entry held so far is released; rejects after `timeoutMs`. Calls `pending`
   * (at once) unless that is the case already: it is up to the caller to get confirmations going.
   */
  whenConfirmed(timeoutMs: number, pending: () => void): Promise<void>;
  /** Resolves the flushes whose entries are all released (after a call completed). */
  settleWaiters(): void;
}

export function createHeldEvents(options: HeldEventsOptions): HeldEvents {
  /** Every unconfirmed entry by its number; insertion order is number order. */
  const unconfirmed = new Map<number, AuditEntry>();
  /** The same entries by event id (lowercase): a repeat (a retried settle, a spooled copy) is not held twice. */
  const heldIds = new Map<string, AuditEntry>();
  let spooledHeld = 0;
  let lastNumber = 0;
  const flushWaiters = new Set<FlushWaiter>();

  function settleWaiters(): void {
    const oldest = unconfirmed.keys().next();
    for (const waiter of flushWaiters) {
      if (oldest.done === true || oldest.value > waiter.upTo) {
        clearTimeout(waiter.timer);
        flushWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  return {
    get size() {
      return unconfirmed.size;
    },
    get spooled() {
      return spooledHeld;
    },
    get awaited() {
      return flushWaiters.size > 0;
    },
    nextNumber: () => lastNumber + 1,
    get: (eventId) => heldIds.get(eventId.toLowerCase()),
    hold(entry) {
      lastNumber = entry.n;
      unconfirmed.set(entry.n, entry);
      heldIds.set(entry.message.event_id?.toLowerCase() ?? '', entry);
      if (entry.member !== undefined) spooledHeld += 1;
    },
    release(entries) {
      const members: string[] = [];
      for (const entry of entries) {
        unconfirmed.delete(entry.n);
        heldIds.delete(entry.message.event_id?.toLowerCase() ?? '');
        if (entry.member !== undefined) {
          members.push(entry.member);
          spooledHeld -= 1;
        }
      }
      options.forget(members);
    },
    whenConfirmed(timeoutMs, pending) {
      const upTo = lastNumber;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          flushWaiters.delete(waiter);
          reject(new Error(`audit flush timed out after ${timeoutMs} ms with ${unconfirmed.size} events unconfirmed`));
        }, timeoutMs);
        const waiter: FlushWaiter = { upTo, resolve, timer };
        flushWaiters.add(waiter);
        settleWaiters();
        if (flushWaiters.has(waiter)) pending();
      });
    },
    settleWaiters,
  };
}
