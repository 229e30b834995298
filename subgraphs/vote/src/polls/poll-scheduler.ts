// Applies scheduled opens and closes on time. One timer sleeps until the earliest due transition
// (or the sweep interval, whichever comes first); a poll-status message from any replica wakes it
// to re-plan, since a new or changed poll may be due sooner. Transitions are conditional UPDATEs,
// so replicas racing on the same poll apply it once.
import type { Logger } from '@votemesh/common/logger';
import type { PollService } from './poll-service.ts';
import type { PollStore } from './poll-store.ts';

export interface PollScheduler {
  /** Runs a sweep now and plans the next one. */
  start(): void;
  /** Re-plans soon (coalesced): call when a poll was created or changed. */
  wake(): void;
  /** Stops the timer and waits for a running sweep; safe to call twice. */
  stop(): Promise<void>;
}

export interface PollSchedulerOptions {
  readonly polls: Pick<PollService, 'applyDue'>;
  readonly store: Pick<PollStore, 'nextDueAt'>;
  readonly logger: Logger;
  /** Longest sleep between sweeps, the safety net for missed wake-ups. */
  readonly sweepMs: number;
  /** @default Date.now */
  readonly now?: () => number;
}

type SchedulerState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'sleeping'; readonly timer: NodeJS.Timeout; readonly until: number }
  | { readonly kind: 'sweeping'; readonly run: Promise<number>; rerun: boolean }
  | { readonly kind: 'stopped' };

/** Slack after a due time, so the database clock has surely passed it when the UPDATE runs. */
const DUE_SLACK_MS = 15;
/** Minimum pause after a sweep, so clock skew cannot turn into a busy loop. */
const MIN_SLEEP_MS = 50;

export function createPollScheduler(options: PollSchedulerOptions): PollScheduler {
  const now = options.now ?? Date.now;
  let state: SchedulerState = { kind: 'idle' };

  function sleepUntil(until: number): void {
    if (state.kind === 'stopped' || state.kind === 'sweeping') return;
    if (state.kind === 'sleeping') {
      if (state.until <= until) return;
      clearTimeout(state.timer);
    }
    const timer = setTimeout(sweep, Math.max(0, until - now()));
    timer.unref();
    state = { kind: 'sleeping', timer, until };
  }

  function sweep(): void {
    if (state.kind === 'stopped') return;
    if (state.kind === 'sweeping') {
      state.rerun = true;
      return;
    }
    if (state.kind === 'sleeping') clearTimeout(state.timer);
    const current: SchedulerState = { kind: 'sweeping', run: runOnce(), rerun: false };
    state = current;
    void current.run.then((next) => {
      if (state !== current) return;
      state = { kind: 'idle' };
      if (current.rerun) sweep();
      else sleepUntil(next);
    });
  }

  /** Applies what is due and returns when to sweep next; never rejects. */
  async function runOnce(): Promise<number> {
    let next = now() + options.sweepMs;
    try {
      const applied = await options.polls.applyDue();
      if (applied > 0) options.logger.debug({ applied }, 'applied scheduled poll transitions');
      const due = await options.store.nextDueAt();
      if (due) next = Math.min(next, Math.max(due.getTime() + DUE_SLACK_MS, now() + MIN_SLEEP_MS));
    } catch (error) {
      options.logger.error({ err: error }, 'poll scheduler sweep failed; retrying at the next sweep');
    }
    return next;
  }

  return {
    start() {
      if (state.kind === 'idle') sweep();
    },
    wake() {
      if (state.kind === 'sweeping') state.rerun = true;
      else if (state.kind !== 'stopped') sleepUntil(now() + MIN_SLEEP_MS);
    },
    async stop() {
      const previous = state;
      state = { kind: 'stopped' };
      if (previous.kind === 'sleeping') clearTimeout(previous.timer);
      if (previous.kind === 'sweeping') await previous.run;
    },
  };
}
