// The two subscriptions as transport-free async iterators over bus events. graphql-ws (or any
// other transport) only pulls from them and calls `return()` when the client leaves.
import { createAsyncQueue } from '@votemesh/common/bus/async-queue';
import type { ReceiptStatus } from '@votemesh/common/contracts/bus';
import type { Identity } from '@votemesh/common/contracts/identity';
import { VotemeshError } from '@votemesh/common/errors';
import type { VoteServices } from './context.ts';
import { parseId } from '@votemesh/common/graphql/ids';
import { createGapReread } from '@votemesh/common/bus/gap-reread';
import type { ReceiptRecord } from './votes/receipt-store.ts';

export interface PollStatusEvent {
  readonly pollId: string;
  readonly status: 'DRAFT' | 'OPEN' | 'CLOSED';
  readonly at: string;
}

/**
 * Whether the worker has decided the vote: every status but PENDING. The voteReceipt subscription
 * ends there. Decided is not final: a COUNTED receipt becomes SUPERSEDED when the same voter's later
 * vote is counted, which readers see through the `voteReceipt` query and `Poll.myVote`, as the
 * schema's ReceiptStatus and Subscription.voteReceipt describe.
 */
export function isDecidedReceiptStatus(status: ReceiptStatus): boolean {
  switch (status) {
    case 'PENDING':
      return false;
    case 'COUNTED':
    case 'SUPERSEDED':
    case 'REJECTED':
      return true;
  }
}

/**
 * The receipt's current state at once, then its first decided status (COUNTED, SUPERSEDED or
 * REJECTED), then the end; a receipt already decided is sent once and ends. Subscribes before
 * reading, so a change landing between the two is not lost.
 */
export async function watchReceipt(services: VoteServices, reader: Identity, rawId: string): Promise<AsyncIterableIterator<ReceiptRecord>> {
  const receiptId = parseId(rawId, 'id');
  const gauge = services.metrics.subscriptions.labels({ field: 'voteReceipt' });
  let unsubscribe: (() => void) | undefined;
  // The decision may have been published while the bus was disconnected: read it again then, or
  // the client would wait for good on a receipt whose hash already says COUNTED. A re-read that
  // finishes before the starting read is kept and applied after it: it may already hold the decision.
  let readBeforeStart: ReceiptRecord | undefined;
  const reread = createGapReread({
    read: () => services.votes.readReceipt(reader, receiptId),
    apply: (record) => {
      if (current) apply(record);
      else readBeforeStart = record;
    },
    // The client holds its last state meanwhile; the read is tried again until it succeeds.
    onError: (error, retryInMs) =>
      services.logger.warn({ err: error, receiptId, retryInMs }, 'voteReceipt could not re-read the receipt after a bus gap; retrying'),
  });
  const stopGapWatch = services.receiptEvents.onGap(() => {
    if (current && isDecidedReceiptStatus(current.status)) return;
    reread.trigger();
  });
  let closed = false;
  let counted = false;
  const queue = createAsyncQueue<ReceiptRecord>({
    maxBuffered: 16,
    onClose: () => {
      closed = true;
      stopGapWatch();
      reread.stop();
      unsubscribe?.();
      if (counted) gauge.dec();
    },
  });
  let current: ReceiptRecord | undefined;
  const early: { status: ReceiptStatus; reason?: string; updatedAt: string }[] = [];

  function apply(change: { status: ReceiptStatus; reason?: string; updatedAt: string }): void {
    if (!current || isDecidedReceiptStatus(current.status) || change.status === 'PENDING') return;
    const { reason: _previousReason, ...rest } = current;
    current = { ...rest, status: change.status, updatedAt: change.updatedAt, ...(change.reason ? { reason: change.reason } : {}) };
    queue.push(current);
    queue.end();
  }

  try {
    unsubscribe = await services.receiptEvents.subscribe(receiptId, (message) => {
      if (current) apply(message);
      else early.push(message);
    });
    current = await services.votes.readReceipt(reader, receiptId);
  } catch (error) {
    queue.end();
    throw error;
  }
  queue.push(current);
  if (isDecidedReceiptStatus(current.status)) queue.end();
  for (const change of early.splice(0)) apply(change);
  if (readBeforeStart) apply(readBeforeStart);
  // Counted once it holds its starting state, as pollStatus is (see there).
  if (!closed) {
    gauge.inc();
    counted = true;
  }
  return queue.iterator;
}

/** Where a status is in a poll's one-way lifecycle. */
const STATUS_ORDER: Readonly<Record<PollStatusEvent['status'], number>> = { DRAFT: 0, OPEN: 1, CLOSED: 2 };

/**
 * Every status change of the poll from now on (admin or scheduled), until the client leaves or the
 * poll closes: CLOSED is the last status a poll can have, so the stream completes after it, and a
 * subscription to a poll that is already closed completes at once, with no event.
 */
export async function watchPollStatus(services: VoteServices, rawPollId: string): Promise<AsyncIterableIterator<PollStatusEvent>> {
  const pollId = parseId(rawPollId, 'pollId');
  const gauge = services.metrics.subscriptions.labels({ field: 'pollStatus' });
  let unsubscribe: (() => void) | undefined;
  /** The status the client last saw (or the poll had when it subscribed). */
  let known: PollStatusEvent['status'] | undefined;
  // Each transition reaches a subscriber once, whichever way it comes: the re-read after a gap can
  // see a transition whose announcement arrives after it (published once the bus was back), and a
  // read that started before a transition it raced with returns the status the client already left.
  // A poll only moves forward (DRAFT → OPEN → CLOSED), so anything not past `known` is old news.
  const push = (event: PollStatusEvent): void => {
    if (known !== undefined && STATUS_ORDER[event.status] <= STATUS_ORDER[known]) return;
    known = event.status;
    queue.push(event);
    if (event.status === 'CLOSED') queue.end();
  };
  /**
   * A gap re-read that finished before the subscription knew its starting status. It may already show
   * a transition the starting read (begun earlier, or answered from older rows) does not: applied once
   * that read is in, or a close missed during setup would leave the client waiting for good.
   */
  let readBeforeStart: PollStatusEvent | undefined;
  // A transition published while the bus was disconnected is lost: compare with the stored poll.
  const reread = createGapReread({
    read: () => services.store.findByIds([pollId]),
    apply: ([poll]) => {
      if (!poll) return;
      // The time of the transition missed: when the poll opened or closed (the times the store keeps).
      const at = (poll.status === 'CLOSED' ? poll.closesAt : poll.status === 'OPEN' ? poll.opensAt : null) ?? new Date();
      const event: PollStatusEvent = { pollId, status: poll.status, at: at.toISOString() };
      if (known === undefined) readBeforeStart = event;
      else push(event);
    },
    // The client keeps the status it has meanwhile; the read is tried again until it succeeds.
    onError: (error, retryInMs) => services.logger.warn({ err: error, pollId, retryInMs }, 'pollStatus could not re-read the poll after a bus gap; retrying'),
  });
  const stopGapWatch = services.pollStatusEvents.onGap(() => reread.trigger());
  let closed = false;
  let counted = false;
  const queue = createAsyncQueue<PollStatusEvent>({
    maxBuffered: 64,
    onClose: () => {
      closed = true;
      stopGapWatch();
      reread.stop();
      unsubscribe?.();
      if (counted) gauge.dec();
    },
  });
  try {
    const stop = await services.pollStatusEvents.subscribe(pollId, (message) => {
      push({ pollId: message.pollId, status: message.status, at: message.at });
    });
    // A CLOSED message may have ended the queue while the SUBSCRIBE was being confirmed.
    if (closed) stop();
    else unsubscribe = stop;
    const [poll] = await services.store.findByIds([pollId]);
    if (!poll) throw new VotemeshError('POLL_NOT_FOUND', `No poll has id ${pollId}`);
    known ??= poll.status;
  } catch (error) {
    queue.end();
    throw error;
  }
  if (readBeforeStart) push(readBeforeStart);
  if (known === 'CLOSED') queue.end();
  // Counted once it holds its starting status, not while it is still reading it: from here on every
  // transition reaches the client, and that is what the gauge going up tells a test or an operator.
  if (!closed) {
    gauge.inc();
    counted = true;
  }
  return queue.iterator;
}
