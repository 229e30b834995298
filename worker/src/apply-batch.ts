// Applies one batch of stream entries end to end: parse → PostgreSQL (one statement for the whole
// batch; the rare votes whose ballot a concurrent batch changed meanwhile are decided again in a
// locking transaction; both retried on deadlock/serialization failure, see tally-sql.ts) →
// receipts and the batch's audit events into the audit spool (both in flight at once), then
// XACK/XDEL and tally messages (receipts.ts). Safe to run on the same entries twice and from several replicas at once: the
// ballots table decides, by stream id, what changes.
import { SpanStatusCode, type Link } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { AuditSink } from '@votemesh/common/contracts/audit';
import type { TallyUpdate } from '@votemesh/common/contracts/bus';
import type { RedisKeys } from '@votemesh/common/contracts/redis-keys';
import type { PrismaClient } from '@votemesh/common/db/client';
import type { Logger } from '@votemesh/common/logger';
import { decidedVoteEvent, malformedEntryEvent, replacedReceiptEvent } from './audit-events.ts';
import type { WorkerMetrics } from './metrics.ts';
import { splitEntries, type MalformedEntry, type ParsedVote } from './outcomes.ts';
import { publishBatch, SettleError, type ReceiptWrite } from './receipts.ts';
import type { StreamEntry } from './stream.ts';
import { commitIsolatingRefused } from './isolate.ts';
import { commitVotes, type CommitResult, type DecidedVote } from './tally-sql.ts';
import { batchSpanAttributes, BATCH_SPAN, linkFromTraceparent, logTraceFields, MAX_LINKS, traceparentOf, tracer } from './trace.ts';

export interface ApplySettings {
  /** Rolling votes/s window. @default 5 */
  readonly windowSeconds: number;
  readonly receiptTtlSeconds: number;
}

export interface ApplyDeps {
  readonly prisma: PrismaClient;
  /** A non-blocking connection (never the one parked in XREADGROUP BLOCK). */
  readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly audit: AuditSink;
  readonly logger: Logger;
  readonly settings: ApplySettings;
  readonly metrics?: WorkerMetrics;
}

export interface BatchReport {
  readonly entries: number;
  readonly counted: number;
  readonly superseded: number;
  readonly rejected: number;
  /** Ballots inserted or changed (what moved the tallies). */
  readonly applied: number;
  readonly tallies: readonly TallyUpdate[];
}

/** A batch whose transaction committed; `settleBatch` tells Redis and the audit log about it. */
export interface CommittedBatch {
  readonly entries: number;
  readonly result: CommitResult;
  readonly malformed: readonly MalformedEntry[];
  readonly ackIds: readonly string[];
  readonly committedAtMs: number;
  readonly traceparent?: string;
  readonly startedAt: number;
}

/** The start of the reason of a vote PostgreSQL refused (the rest is PostgreSQL's message). */
export const REFUSED_REASON = 'VOTE_REFUSED_BY_DATABASE';

/** commitBatch then settleBatch: the whole apply for one batch. */
export async function applyBatch(deps: ApplyDeps, entries: readonly StreamEntry[]): Promise<BatchReport> {
  return settleBatch(deps, await commitBatch(deps, entries));
}

/**
 * Phase 1: parse and commit to PostgreSQL (retried on deadlock/serialization failure; a batch
 * PostgreSQL refuses for its data is bisected and the refused entries are REJECTED, see isolate.ts).
 * The consumer overlaps it with the previous batch's settle, which only touches Redis.
 */
export async function commitBatch(deps: ApplyDeps, entries: readonly StreamEntry[]): Promise<CommittedBatch> {
  return tracer.startActiveSpan(BATCH_SPAN, { attributes: batchSpanAttributes(entries.length) }, async (span) => {
    try {
      const startedAt = performance.now();
      const { votes, malformed, gone } = splitEntries(entries);
      // Added after the start so each entry is parsed once, and the span still covers the parse.
      // The samplers in use (ratio, parent-based) do not look at links.
      if (span.isRecording()) span.addLinks(castVoteLinks(votes, malformed));
      for (const entry of malformed)
        deps.logger.warn({ streamId: entry.id, receiptId: entry.receiptId, reason: entry.reason }, 'malformed vote stream entry rejected');
      const options = {
        windowSeconds: deps.settings.windowSeconds,
        retry: {
          onRetry: (attempt: number, sqlState: string) => {
            deps.metrics?.transactionRetries.inc({ sqlstate: sqlState });
            deps.logger.warn({ attempt, sqlState, entries: entries.length }, 'batch transaction lost a lock race; retrying');
          },
        },
        onBallotRace: (count: number) => {
          deps.metrics?.ballotRaces.inc(count);
          deps.logger.debug({ votes: count }, 'ballots changed concurrently; deciding those votes under row locks');
        },
      };
      const committed = await commitIsolatingRefused(votes, (part) => commitVotes(deps.prisma, part, options), {
        onSplit: (size, error) =>
          deps.logger.warn(
            { votes: size, sqlState: error.sqlState, error: error.message },
            'PostgreSQL refused data in a batch; splitting it to find the entries',
          ),
      });
      const refused = committed.refused.map(({ vote, error }): DecidedVote => {
        deps.logger.warn(
          { streamId: vote.id, receiptId: vote.entry.receiptId, sqlState: error.sqlState, error: error.message },
          'vote refused by PostgreSQL; rejected',
        );
        return { vote, outcome: { status: 'REJECTED', reason: `${REFUSED_REASON}: ${error.message} (SQLSTATE ${error.sqlState})` } };
      });
      if (refused.length > 0) span.setAttribute('votemesh.batch.refused', refused.length);
      const result: CommitResult =
        refused.length === 0 ? committed : { decided: [...committed.decided, ...refused], replaced: committed.replaced, tallies: committed.tallies };
      const traceparent = traceparentOf(span);
      return {
        entries: entries.length,
        result,
        malformed,
        ackIds: [...votes.map((vote) => vote.id), ...malformed.map((entry) => entry.id), ...gone],
        committedAtMs: Date.now(),
        startedAt,
        ...(traceparent ? { traceparent } : {}),
      };
    } catch (error) {
      span.recordException(error instanceof Error ? error : new Error(String(error)));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Links to the castVote spans of the batch's entries, malformed ones included, at most MAX_LINKS. */
function castVoteLinks(votes: readonly ParsedVote[], malformed: readonly MalformedEntry[]): Link[] {
  const links: Link[] = [];
  for (const traceparent of traceparentsOf(votes, malformed)) {
    const link = linkFromTraceparent(traceparent);
    if (link) links.push(link);
    if (links.length === MAX_LINKS) break;
  }
  return links;
}

function* traceparentsOf(votes: readonly ParsedVote[], malformed: readonly MalformedEntry[]): Generator<string> {
  for (const vote of votes) if (vote.entry.traceparent) yield vote.entry.traceparent;
  for (const entry of malformed) if (entry.traceparent) yield entry.traceparent;
}

/**
 * Phase 2: the batch's audit events recorded (their spool ZADD goes out right behind the receipts
 * pipeline), receipts, then, once both are in Redis, XACK/XDEL and tally messages (receipts.ts),
 * then metrics. Throws when Redis refused part of it; the caller settles the same batch again
 * (pipeline.ts), which records the same event ids again (the audit client holds an id once and
 * spools what is not yet in Redis). The receipts pipeline is sent before this function first
 * yields, so settles started in batch order reach Redis in batch order (a lane also waits for one
 * settle before the next).
 */
export async function settleBatch(deps: ApplyDeps, batch: CommittedBatch): Promise<BatchReport> {
  const { logger, metrics, settings } = deps;
  const { result, malformed, committedAtMs, traceparent } = batch;
  const at = new Date(committedAtMs).toISOString();

  const receipts: ReceiptWrite[] = [];
  let counted = 0;
  let superseded = 0;
  let rejected = malformed.length;
  let applied = 0;
  for (const { vote, outcome } of result.decided) {
    const { receiptId, pollId, optionId, voterId, castAt } = vote.entry;
    if (outcome.status === 'COUNTED') {
      counted += 1;
      if (outcome.change !== 'replay') applied += 1;
    } else if (outcome.status === 'SUPERSEDED') superseded += 1;
    else rejected += 1;
    receipts.push({
      receiptId,
      pollId,
      status: outcome.status,
      ...(outcome.status === 'COUNTED' ? {} : { reason: outcome.reason }),
      vote: { optionId, voterId, castAt },
    });
  }
  for (const old of result.replaced) {
    receipts.push({
      receiptId: old.receiptId,
      pollId: old.pollId,
      status: 'SUPERSEDED',
      reason: 'Replaced by a newer vote',
      vote: { optionId: old.optionId, voterId: old.voterId, castAt: old.castAt },
    });
  }
  for (const entry of malformed) {
    if (entry.receiptId)
      receipts.push({
        receiptId: entry.receiptId,
        status: 'REJECTED',
        reason: `Malformed vote: ${entry.reason}`,
        ...(entry.pollId ? { pollId: entry.pollId } : {}),
      });
  }

  // A tally this batch produced was committed now; one it only read back (its poll was touched by
  // replayed votes alone) keeps the time of the commit that produced it (tally-sql.ts).
  const tallies: TallyUpdate[] = result.tallies.map((tally) => ({
    type: 'tally',
    ...tally,
    committedAtMs: tally.committedAtMs ?? committedAtMs,
    ...(traceparent ? { traceparent } : {}),
  }));
  // The audit events are recorded before the receipts are sent, so their spool ZADD (issued by the
  // audit client in the next microtask, on the same connection in main.ts) is in flight together
  // with the receipts pipeline and `beforeAck` only waits for its answer: one Redis round trip less
  // per batch. The ack still waits for both. A settle that fails records them again: the client
  // holds an id once, writes it to the spool again if its write failed, and `persisted` waits for
  // exactly these ids. So an event may reach the audit log a moment before its receipt is in Redis
  // (or until a failed settle is retried): acceptable, since it records a decision PostgreSQL has
  // already committed, and nothing reads the log and the receipts together or promises an order.
  const events = [
    ...result.decided.map((decided) => decidedVoteEvent(decided, at)),
    ...result.replaced.map((old) => replacedReceiptEvent(old, at)),
    ...malformed.map((entry) => malformedEntryEvent(entry, at)),
  ];
  for (const event of events) deps.audit.record(event);
  const eventIds = events.map((event) => event.eventId);
  try {
    await publishBatch(
      deps.redis,
      deps.keys,
      { key: deps.keys.votes, group: deps.keys.tallyGroup },
      {
        receipts,
        ackIds: batch.ackIds,
        tallies,
        updatedAt: at,
        receiptTtlSeconds: settings.receiptTtlSeconds,
        beforeAck: async () => {
          await deps.audit.persisted?.(eventIds);
        },
      },
    );
  } catch (error) {
    // The caller settles the batch again (pipeline.ts); metrics wait for that.
    if (error instanceof SettleError) metrics?.publishErrors.inc(error.failed);
    throw error;
  }

  if (metrics) {
    metrics.batchSize.observe(batch.entries);
    metrics.batchApplySeconds.observe((performance.now() - batch.startedAt) / 1000);
    if (counted > 0) metrics.votesApplied.inc({ outcome: 'counted' }, counted);
    if (superseded > 0) metrics.votesApplied.inc({ outcome: 'superseded' }, superseded);
    if (rejected > 0) metrics.votesApplied.inc({ outcome: 'rejected' }, rejected);
  }
  // Settling runs outside the batch span: name its trace explicitly so the line joins the trace.
  logger.debug({ entries: batch.entries, counted, superseded, rejected, polls: tallies.length, ...logTraceFields(traceparent) }, 'batch applied');
  return { entries: batch.entries, counted, superseded, rejected, applied, tallies };
}
