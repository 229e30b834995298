// The audit client's durable spool: every event is written to Redis when it is recorded and
// removed once the audit service confirms it, so events the audit service has not confirmed
// outlive the process that recorded them (a deploy, a crash, SIGKILL). One sorted set per sending
// process kind (`<prefix>audit:spool:<source>`), shared by its replicas: member = the event's wire
// form as JSON, score = when it was recorded (ms). A process adopts what is in it at start, and
// periodically what has waited long enough (a replica that died and was not replaced), and sends
// it like its own. Two replicas may send the same spooled event: the audit service ignores a
// repeated event_id, so that is safe. Contract: docs/contracts/audit.md.
import type { Redis } from 'ioredis';
import { createRedisKeys } from '../contracts/redis-keys.ts';
import type { AuditEventInput } from './generated/votemesh/audit/v1/AuditEventInput.ts';

export interface AuditSpool {
  /** Where it lives, for logs. */
  readonly key: string;
  /** Adds events (member = `spoolMember(message)`); resolves once Redis has them. */
  save(members: readonly { readonly member: string; readonly at: number }[]): Promise<void>;
  remove(members: readonly string[]): Promise<void>;
  /** Members recorded at or before `recordedBefore` (ms), oldest first: `limit` of them from `offset`. */
  load(offset: number, limit: number, recordedBefore: number): Promise<string[]>;
  /** Events in the spool, all replicas together. */
  size(): Promise<number>;
}

export function createRedisAuditSpool(redis: Redis, key: string): AuditSpool {
  return {
    key,
    async save(members) {
      if (members.length === 0) return;
      const args: (string | number)[] = [];
      for (const { member, at } of members) args.push(at, member);
      await redis.zadd(key, ...args);
    },
    async remove(members) {
      if (members.length > 0) await redis.zrem(key, ...members);
    },
    load: (offset, limit, recordedBefore) => redis.zrangebyscore(key, '-inf', recordedBefore, 'LIMIT', offset, limit),
    size: () => redis.zcard(key),
  };
}

/** The spool key of a sending process kind under REDIS_PREFIX. */
export function auditSpoolKey(prefix: string, source: string): string {
  return createRedisKeys(prefix).auditSpool(source);
}

/** The member an event is spooled as. Deterministic for one message, so removal finds it. */
export function spoolMember(message: AuditEventInput): string {
  return JSON.stringify([
    message.event_id,
    message.at,
    message.actor,
    message.action,
    message.subject_type,
    message.subject_id,
    message.poll_id,
    message.trace_id,
    message.data_json,
  ]);
}

/** The message a spooled member holds; throws naming what is wrong (the spool is bytes from Redis). */
export function parseSpoolMember(member: string): AuditEventInput {
  const value: unknown = JSON.parse(member);
  if (!Array.isArray(value) || value.length !== 9 || !value.every((field) => typeof field === 'string')) {
    throw new Error('a spooled audit event is not an array of 9 strings');
  }
  const [event_id = '', at = '', actor = '', action = '', subject_type = '', subject_id = '', poll_id = '', trace_id = '', data_json = ''] = value as string[];
  return { event_id, at, actor, action, subject_type, subject_id, poll_id, trace_id, data_json };
}
