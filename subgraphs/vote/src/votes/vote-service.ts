// castVote and receipt reads. Validation reads polls through the short-lived in-memory cache, so
// a vote normally costs no PostgreSQL query: one Redis MULTI, which also publishes the PENDING
// receipt message and spools the vote's `vote.accepted` audit event (receipt-store.ts).
import { randomUUID } from 'node:crypto';
import { SpanKind, trace } from '@opentelemetry/api';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import type { ReceiptUpdate } from '@votemesh/common/contracts/bus';
import type { Identity } from '@votemesh/common/contracts/identity';
import { toVotemeshError, VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { ATTR, ATTR_VALUES, SPAN_NAMES, TRACER_NAMES, VOTES_DESTINATION } from '@votemesh/common/telemetry/names';
import { injectTraceparent, withSpan } from '@votemesh/common/telemetry/propagation';
import { auditEvent } from '../audit.ts';
import { parseId } from '@votemesh/common/graphql/ids';
import type { VoteMetrics } from '../metrics.ts';
import type { PollCache } from '../polls/poll-cache.ts';
import type { PollRecord } from '../polls/poll-store.ts';
import type { ReceiptRecord, ReceiptStore } from './receipt-store.ts';

export interface VoteService {
  /** `caller` throws IDENTITY_MISSING when there is no trusted identity (counted as a rejection). */
  castVote(caller: () => Identity, pollId: string, optionId: string): Promise<ReceiptRecord>;
  /** The receipt if `reader` may see it (its voter or an admin); RECEIPT_NOT_FOUND otherwise. */
  readReceipt(reader: Identity, receiptId: string): Promise<ReceiptRecord>;
}

export interface VoteServiceDeps {
  readonly polls: PollCache;
  readonly receipts: ReceiptStore;
  readonly audit: AuditSink;
  readonly metrics: VoteMetrics;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Whether votes are accepted at `at`: OPEN, and inside opensAt/closesAt even before the scheduler ran. */
export function isAcceptingVotes(poll: PollRecord, at: Date): boolean {
  if (poll.status !== 'OPEN') return false;
  if (poll.opensAt && poll.opensAt.getTime() > at.getTime()) return false;
  if (poll.closesAt && poll.closesAt.getTime() <= at.getTime()) return false;
  return true;
}

export function createVoteService(deps: VoteServiceDeps): VoteService {
  const { polls, receipts, audit, metrics, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const tracer = trace.getTracer(TRACER_NAMES.vote);

  async function accept(caller: () => Identity, rawPollId: string, rawOptionId: string): Promise<ReceiptRecord> {
    const voter = caller();
    const pollId = parseId(rawPollId, 'pollId');
    const optionId = parseId(rawOptionId, 'optionId');
    const poll = await polls.get(pollId);
    if (!poll) throw new VotemeshError('POLL_NOT_FOUND', `No poll has id ${pollId}`);
    const castAt = now();
    if (!isAcceptingVotes(poll, castAt)) {
      const why = poll.status === 'OPEN' ? 'is outside its voting window' : `is ${poll.status}`;
      throw new VotemeshError('POLL_NOT_OPEN', `Poll ${pollId} ${why}; votes are not accepted`);
    }
    if (!poll.options.some((option) => option.id === optionId)) {
      throw new VotemeshError('OPTION_NOT_IN_POLL', `Option ${optionId} does not belong to poll ${pollId}`);
    }

    const receipt: ReceiptRecord = {
      id: randomUUID(),
      pollId,
      optionId,
      voterId: voter.subject,
      status: 'PENDING',
      castAt: castAt.toISOString(),
      updatedAt: castAt.toISOString(),
    };
    // The producer span's context travels in the entry: the worker's batch span links to it.
    const sendAttributes = {
      [ATTR.MESSAGING_SYSTEM]: ATTR_VALUES.MESSAGING_SYSTEM_REDIS,
      [ATTR.MESSAGING_DESTINATION_NAME]: VOTES_DESTINATION,
      [ATTR.MESSAGING_OPERATION_TYPE]: ATTR_VALUES.MESSAGING_OPERATION_SEND,
      [ATTR.RECEIPT_ID]: receipt.id,
    };
    const pending: ReceiptUpdate = { type: 'receipt', receiptId: receipt.id, pollId, status: 'PENDING', updatedAt: receipt.updatedAt };
    // The event goes into the audit spool in the vote's own MULTI: durable exactly when the vote is,
    // at no extra round trip (awaiting the client's own ZADD instead would add one to every vote,
    // and a crash between the MULTI and that ZADD would still lose it). Poll lifecycle events keep
    // the plain record: docs/contracts/audit.md says what a crash can lose there.
    const event = auditEvent({ actor: voter.subject, action: 'vote.accepted', subjectType: 'Vote', subjectId: receipt.id, pollId, data: { optionId } }, castAt);
    const staged = audit.stage?.(event);
    const accepted = await withSpan(
      tracer,
      SPAN_NAMES.votesSend,
      sendAttributes,
      async (span) => {
        const traceparent = injectTraceparent();
        const written = await receipts.accept(
          { receiptId: receipt.id, pollId, optionId, voterId: voter.subject, castAt: receipt.castAt, ...(traceparent ? { traceparent } : {}) },
          pending,
          staged?.spoolWrite,
        );
        span.setAttribute(ATTR.MESSAGING_MESSAGE_ID, written.streamId);
        return written;
      },
      { kind: SpanKind.PRODUCER },
    );
    if (accepted.publishError) {
      // The vote is in the stream and will be counted; only a live PENDING push is lost.
      logger.warn({ err: accepted.publishError, receiptId: receipt.id }, 'could not publish the PENDING receipt message');
    }
    if (accepted.auditSpoolError) {
      // The vote is in; the audit client writes the event to its spool itself.
      logger.warn({ err: accepted.auditSpoolError, receiptId: receipt.id }, 'could not spool the vote.accepted audit event with the vote');
    }
    if (staged) staged.record(staged.spoolWrite !== undefined && accepted.auditSpoolError === undefined);
    else audit.record(event);
    return receipt;
  }

  return {
    castVote(caller, pollId, optionId) {
      const attributes = { [ATTR.POLL_ID]: pollId.slice(0, 64), [ATTR.OPTION_ID]: optionId.slice(0, 64) };
      return withSpan(tracer, SPAN_NAMES.castVote, attributes, async (span) => {
        const stopTimer = metrics.castVoteSeconds.startTimer();
        try {
          const receipt = await accept(caller, pollId, optionId);
          metrics.votes.inc({ outcome: 'accepted', reason: 'none' });
          span.setAttributes({ [ATTR.VOTE_OUTCOME]: 'accepted', [ATTR.RECEIPT_ID]: receipt.id });
          return receipt;
        } catch (error) {
          const code = toVotemeshError(error).code;
          metrics.votes.inc({ outcome: 'rejected', reason: code });
          span.setAttribute(ATTR.VOTE_OUTCOME, 'rejected');
          throw error;
        } finally {
          stopTimer();
        }
      });
    },
    async readReceipt(reader, rawId) {
      const id = parseId(rawId, 'id');
      const receipt = await receipts.get(id);
      // Someone else's receipt reads exactly like a missing one: existence is not leaked.
      if (!receipt || (receipt.voterId !== reader.subject && reader.role !== 'admin')) {
        throw new VotemeshError('RECEIPT_NOT_FOUND', `No vote receipt has id ${id} (or it has expired)`);
      }
      return receipt;
    },
  };
}
