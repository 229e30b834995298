// After commit, everything Redis must learn from a batch goes out in two pipelines, in this order:
// 1. receipt hashes (HSET + EXPIRE) and one `receipts` bus message per chunk of receipts (a small
//    Lua script per chunk; a batch of up to 500 receipts is one script and one PUBLISH);
//    then `beforeAck` (waits for the batch's audit events to be in the audit client's Redis spool:
//    apply-batch.ts records them just before, so their ZADD travels with this pipeline);
// 2. only once every receipt script and `beforeAck` succeeded: XACK + XDEL of the batch, then one
//    `tally` bus message per touched poll.
// Commands of a pipeline do not depend on each other: with one pipeline, a refused receipt script
// (Redis at maxmemory refuses the script's writes but not XACK or XDEL) still acked and deleted
// the entries, and the receipts stayed PENDING for good. Now a failed command fails the whole
// settle (SettleError) and the caller settles again (pipeline.ts); until step 2 has run the entries
// stay pending, so even a worker that dies meanwhile leaves them to a replay. Settling twice is
// harmless: receipt statuses only move forward, XACK/XDEL are idempotent and tallies carry
// versions. The order also means a subscriber never sees a tally before the receipts behind it.
import type { ChainableCommander, Redis } from 'ioredis';
import { encodeBusMessage, MAX_RECEIPT_REASON_LENGTH, type ReceiptStatus, type TallyUpdate } from '@votemesh/common/contracts/bus';
import type { RedisKeys } from '@votemesh/common/contracts/redis-keys';

export interface ReceiptWrite {
  /** A lowercase UUID, as every path that reaches here validates it (the script reads it back from the key). */
  readonly receiptId: string;
  readonly status: ReceiptStatus;
  readonly reason?: string;
  /** Absent only for a malformed entry whose poll id could not be read: no bus message then. */
  readonly pollId?: string;
  /**
   * What the worker knows of the vote. Written alongside the status so that a hash that expired (or
   * never reached Redis) is recreated complete rather than as a bare status.
   */
  readonly vote?: { readonly optionId: string; readonly voterId: string; readonly castAt: string };
}

export interface PublishPlan {
  readonly receipts: readonly ReceiptWrite[];
  readonly ackIds: readonly string[];
  readonly tallies: readonly TallyUpdate[];
  readonly updatedAt: string;
  readonly receiptTtlSeconds: number;
  /**
   * Runs after the receipts are written and before the ack: waits for what must be durable before
   * the entries leave the pending list (the batch's audit events), since after the ack nothing
   * replays them. Its writes may already be in flight (the audit spool's are).
   */
  readonly beforeAck?: () => Promise<void>;
}

/**
 * One EVAL per chunk of receipts instead of three commands each, and as few arguments per receipt as
 * will do (each costs the worker's encoder and Redis's parser): KEYS: the receipt hashes, whose last
 * 36 characters are the receipt id (a validated UUID). ARGV: ttl, channel, updatedAt, then per
 * receipt: status, reason, pollId, vote ('' = unknown), where vote is `<optionId> <castAt> <voterId>`
 * (a UUID and an ISO time hold no space; the voter id comes last and may). Receipt statuses only
 * move forward (PENDING → COUNTED → SUPERSEDED; SUPERSEDED and REJECTED are final), so two
 * replicas settling overlapping batches in either order leave the right status. A status that does
 * not move forward (a replay's COUNTED again, a settle repeated after a failure) is neither written
 * nor announced (docs/contracts/bus.md): the receipt keeps its updatedAt and reason, and a final
 * status is never swapped for the other final one.
 *
 * A hash that exists (castVote wrote it complete) only gets status, updatedAt and reason; a missing
 * one (expired, or never written) is recreated with everything the worker knows. Every receipt
 * whose status changed and whose poll is known goes into the chunk's ONE `receipts` message
 * (ReceiptsUpdate, contracts/bus.ts; the tests check it through parseBusMessage), published at the
 * end of the script. Its items are concatenated, each in one expression, rather than built with
 * cjson (a table per receipt costs more than the HSET), which is safe because receiptId and pollId
 * are validated UUIDs, status is one of four words and updatedAt an ISO time; the free-text reason
 * goes through cjson.encode.
 */
const RECEIPTS_SCRIPT = `
local ttl, channel, updatedAt = ARGV[1], ARGV[2], ARGV[3]
local rank = { PENDING = 0, COUNTED = 1, SUPERSEDED = 2, REJECTED = 2 }
local items, count = {}, 0
local base = 3
for i = 1, #KEYS do
  local key = KEYS[i]
  local receiptId = string.sub(key, -36)
  local status, reason, pollId = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local current = redis.call('HGET', key, 'status')
  if not current or (rank[status] or 0) > (rank[current] or 0) then
    if current then
      redis.call('HSET', key, 'status', status, 'updatedAt', updatedAt)
    else
      local fields = { 'updatedAt', updatedAt, 'receiptId', receiptId, 'status', status }
      if pollId ~= '' then fields[#fields + 1] = 'pollId'; fields[#fields + 1] = pollId end
      local vote = ARGV[base + 4]
      if vote ~= '' then
        local optionEnd = string.find(vote, ' ', 1, true)
        local castAtEnd = string.find(vote, ' ', optionEnd + 1, true)
        fields[#fields + 1] = 'optionId'; fields[#fields + 1] = string.sub(vote, 1, optionEnd - 1)
        fields[#fields + 1] = 'voterId'; fields[#fields + 1] = string.sub(vote, castAtEnd + 1)
        fields[#fields + 1] = 'castAt'; fields[#fields + 1] = string.sub(vote, optionEnd + 1, castAtEnd - 1)
      end
      redis.call('HSET', key, unpack(fields))
    end
    if reason ~= '' then redis.call('HSET', key, 'reason', reason) end
    redis.call('EXPIRE', key, ttl)
    if pollId ~= '' then
      count = count + 1
      if reason == '' then
        items[count] = '{"receiptId":"' .. receiptId .. '","pollId":"' .. pollId .. '","status":"' .. status .. '"}'
      else
        items[count] = '{"receiptId":"' .. receiptId .. '","pollId":"' .. pollId .. '","status":"' .. status .. '","reason":' .. cjson.encode(reason) .. '}'
      end
    end
  end
  base = base + 4
end
if count > 0 then
  redis.call('PUBLISH', channel, '{"type":"receipts","updatedAt":"' .. updatedAt .. '","receipts":[' .. table.concat(items, ',') .. ']}')
end
return #KEYS`;
/**
 * Receipts per EVAL: keeps each script run short (Redis runs nothing else meanwhile) and each
 * `receipts` message small (a subscriber's pub/sub output buffer is limited).
 */
const RECEIPTS_PER_SCRIPT = 500;

/** Some commands of a settle failed; `failed` counts them. Settling the same plan again is safe. */
export class SettleError extends Error {
  override readonly name = 'SettleError';
  readonly step: 'receipts' | 'audit spool' | 'ack and tallies';
  readonly failed: number;
  constructor(step: SettleError['step'], failed: number, firstMessages: readonly string[]) {
    super(`${failed} Redis command(s) failed writing the batch's ${step}: ${firstMessages.join('; ')}`);
    this.step = step;
    this.failed = failed;
  }
}

/**
 * Sends the plan: receipts first, then (only if they all succeeded) the ack and the tallies. Throws
 * SettleError when a command failed; a connection error rejects as ioredis reports it.
 */
export async function publishBatch(redis: Redis, keys: RedisKeys, stream: { key: string; group: string }, plan: PublishPlan): Promise<void> {
  if (plan.receipts.length > 0) await runAll('receipts', appendReceiptScripts(redis.pipeline(), keys, plan));
  if (plan.beforeAck) {
    try {
      await plan.beforeAck();
    } catch (error) {
      throw new SettleError('audit spool', 1, [error instanceof Error ? error.message : String(error)]);
    }
  }
  const pipeline = redis.pipeline();
  if (plan.ackIds.length > 0) pipeline.xack(stream.key, stream.group, ...plan.ackIds).xdel(stream.key, ...plan.ackIds);
  const tallyChannel = keys.channel('tally');
  for (const tally of plan.tallies) pipeline.publish(tallyChannel, encodeBusMessage(tally));
  if (pipeline.length > 0) await runAll('ack and tallies', pipeline);
}

async function runAll(step: SettleError['step'], pipeline: ChainableCommander): Promise<void> {
  const results = (await pipeline.exec()) ?? [];
  const errors = results.flatMap(([error]) => (error ? [error] : []));
  if (errors.length > 0)
    throw new SettleError(
      step,
      errors.length,
      errors.slice(0, 3).map((error) => error.message),
    );
}

function appendReceiptScripts(pipeline: ChainableCommander, keys: RedisKeys, plan: PublishPlan): ChainableCommander {
  const receiptChannel = keys.channel('receipts');
  for (let start = 0; start < plan.receipts.length; start += RECEIPTS_PER_SCRIPT) {
    const chunk = plan.receipts.slice(start, start + RECEIPTS_PER_SCRIPT);
    const args: string[] = new Array(3 + chunk.length * 4);
    args[0] = String(plan.receiptTtlSeconds);
    args[1] = receiptChannel;
    args[2] = plan.updatedAt;
    let at = 3;
    const chunkKeys: string[] = new Array(chunk.length);
    for (const [i, receipt] of chunk.entries()) {
      chunkKeys[i] = keys.receipt(receipt.receiptId);
      args[at++] = receipt.status;
      args[at++] = receipt.reason === undefined ? '' : clipReason(receipt.reason);
      args[at++] = receipt.pollId ?? '';
      const vote = receipt.vote;
      args[at++] = vote === undefined ? '' : `${vote.optionId} ${vote.castAt} ${vote.voterId}`;
    }
    pipeline.eval(RECEIPTS_SCRIPT, chunk.length, ...chunkKeys, ...args);
  }
  return pipeline;
}

/**
 * A reason within what a receipt message may carry: one over-long reason (PostgreSQL's message in
 * a refusal) would otherwise make subscribers drop the whole batch's message. The hash keeps the
 * same clipped text, so the receipt reads the same from either.
 */
function clipReason(reason: string): string {
  if (reason.length <= MAX_RECEIPT_REASON_LENGTH) return reason;
  // toWellFormed: a cut through a surrogate pair would leave a lone half, which parsers refuse.
  return `${reason.slice(0, MAX_RECEIPT_REASON_LENGTH - 1)}…`.toWellFormed();
}
