// Vote receipts in Redis. Accepting a vote is ONE MULTI, one round trip: the receipt hash
// (PENDING) with its TTL, the `votes` stream entry for the worker, the voter's latest receipt per
// poll (for `Poll.myVote`), the vote's `vote.accepted` audit event into the audit client's spool
// (when given: so the event is durable exactly when the vote is, docs/contracts/audit.md), and the
// PUBLISH of the PENDING receipt message on the bus channel (docs/contracts/bus.md; the vote
// subgraph's event bus, the audit spool and this store share one connection and prefix). The
// writes are all made or none; the PUBLISH runs last, once they are made, and a failure of it
// alone does not undo the vote (pub/sub is fire-and-forget), nor does a failure of the spool write
// alone (the audit client then writes the event itself). The worker later rewrites
// `status`/`reason`/`updatedAt` of the hash and publishes a receipt bus message.
import type { AuditSpoolWrite } from '@votemesh/common/contracts/audit';
import { encodeBusMessage, RECEIPT_STATUSES, type ReceiptStatus, type ReceiptUpdate } from '@votemesh/common/contracts/bus';
import { tracePublish } from '@votemesh/common/bus/redis-event-bus';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { encodeVoteEntry, type VoteEntry } from '@votemesh/common/contracts/vote-entry';
import type { Redis } from 'ioredis';

export interface ReceiptRecord {
  readonly id: string;
  readonly pollId: string;
  readonly optionId: string;
  readonly voterId: string;
  readonly status: ReceiptStatus;
  readonly reason?: string;
  readonly castAt: string;
  readonly updatedAt: string;
}

export interface AcceptedVote {
  /** The `votes` stream entry id. */
  readonly streamId: string;
  /** Why the PENDING message was not published, when it was not (the vote is written regardless). */
  readonly publishError?: Error;
  /** Why the audit spool write failed, when it did (the vote is written regardless). */
  readonly auditSpoolError?: Error;
}

export interface ReceiptStore {
  /**
   * Writes receipt + stream entry + latest-vote pointer (+ `audit`, the vote's audit event into the
   * spool) atomically and publishes `pending`, in one round trip.
   */
  accept(entry: VoteEntry, pending: ReceiptUpdate, audit?: AuditSpoolWrite): Promise<AcceptedVote>;
  get(receiptId: string): Promise<ReceiptRecord | null>;
  /** The voter's latest receipt per poll (absent when none or expired), in one round trip per step. */
  latestFor(voterId: string, pollIds: readonly string[]): Promise<Map<string, ReceiptRecord>>;
  ping(): Promise<void>;
}

export interface ReceiptStoreOptions {
  readonly redis: Redis;
  readonly prefix: string;
  readonly ttlSeconds: number;
}

/** Hash of voterId → receiptId: the voter's latest receipt for one poll. */
export function myVoteKey(prefix: string, pollId: string): string {
  return `${prefix}myvote:${pollId}`;
}

export function createReceiptStore(options: ReceiptStoreOptions): ReceiptStore {
  const { redis, prefix, ttlSeconds } = options;
  const keys = createRedisKeys(prefix);
  const receiptChannel = keys.channel('receipt');

  return {
    async accept(entry, pending, audit) {
      const receiptKey = keys.receipt(entry.receiptId);
      const latestKey = myVoteKey(prefix, entry.pollId);
      // Traced as the `send bus` span a bus.publish would have been (the `send votes` span is the caller's).
      const results = await tracePublish(receiptChannel, () => {
        const transaction = redis
          .multi()
          .hset(receiptKey, {
            pollId: entry.pollId,
            optionId: entry.optionId,
            voterId: entry.voterId,
            status: 'PENDING',
            castAt: entry.castAt,
            updatedAt: entry.castAt,
          })
          .expire(receiptKey, ttlSeconds)
          .xadd(keys.votes, '*', ...encodeVoteEntry(entry))
          .hset(latestKey, entry.voterId, entry.receiptId)
          .expire(latestKey, ttlSeconds);
        if (audit) transaction.zadd(audit.key, audit.score, audit.member);
        return transaction.publish(receiptChannel, encodeBusMessage(pending)).exec();
      });
      if (!results) throw new Error('Redis discarded the vote transaction');
      const [publishError] = results.at(-1) ?? [null];
      const [auditSpoolError] = audit ? (results.at(-2) ?? [null]) : [null];
      for (const [error] of results.slice(0, audit ? -2 : -1)) if (error) throw error;
      const streamId = results[2]?.[1];
      if (typeof streamId !== 'string') throw new Error('XADD returned no stream id');
      return { streamId, ...(publishError ? { publishError } : {}), ...(auditSpoolError ? { auditSpoolError } : {}) };
    },
    async get(receiptId) {
      return toReceipt(receiptId, await redis.hgetall(keys.receipt(receiptId)));
    },
    async latestFor(voterId, pollIds) {
      const found = new Map<string, ReceiptRecord>();
      if (pollIds.length === 0) return found;
      const pointers = await redis.pipeline(pollIds.map((pollId) => ['hget', myVoteKey(prefix, pollId), voterId])).exec();
      const wanted: { pollId: string; receiptId: string }[] = [];
      pollIds.forEach((pollId, index) => {
        const receiptId = pointers?.[index]?.[1];
        if (typeof receiptId === 'string') wanted.push({ pollId, receiptId });
      });
      if (wanted.length === 0) return found;
      const hashes = await redis.pipeline(wanted.map(({ receiptId }) => ['hgetall', keys.receipt(receiptId)])).exec();
      wanted.forEach(({ pollId, receiptId }, index) => {
        const [error, hash] = hashes?.[index] ?? [];
        if (error || !isStringRecord(hash)) return;
        const receipt = toReceipt(receiptId, hash);
        if (receipt && receipt.voterId === voterId) found.set(pollId, receipt);
      });
      return found;
    },
    async ping() {
      await redis.ping();
    },
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null;
}

/** A receipt from its hash, or null when the hash is missing (expired) or incomplete. */
export function toReceipt(id: string, hash: Record<string, string>): ReceiptRecord | null {
  const { pollId, optionId, voterId, status, reason, castAt, updatedAt } = hash;
  if (!pollId || !optionId || !voterId || !castAt) return null;
  const knownStatus = RECEIPT_STATUSES.find((candidate) => candidate === status);
  if (!knownStatus) return null;
  return { id, pollId, optionId, voterId, status: knownStatus, ...(reason ? { reason } : {}), castAt, updatedAt: updatedAt ?? castAt };
}
