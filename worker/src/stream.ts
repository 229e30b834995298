// Thin helpers over the Redis Stream commands the worker uses. Replies are parsed here, at the edge,
// into `StreamEntry` values; nothing else in the worker looks at raw RESP shapes.
import type { Redis } from 'ioredis';

/** One entry as read from the stream; `fields` is null when it was deleted while still pending. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: readonly string[] | null;
}

export interface StreamRef {
  readonly key: string;
  readonly group: string;
}

/** XGROUP CREATE … MKSTREAM, tolerating a group that already exists. Starts at `0` so nothing queued before the first worker is lost. */
export async function ensureGroup(redis: Redis, stream: StreamRef): Promise<void> {
  try {
    await redis.call('XGROUP', 'CREATE', stream.key, stream.group, '0', 'MKSTREAM');
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
  }
}

export interface ReadOptions {
  readonly consumer: string;
  readonly count: number;
  /** Block this long when nothing is new; omit for a non-blocking read. */
  readonly blockMs?: number;
  /** `>` for new entries, `0` to re-read this consumer's own pending entries. */
  readonly from: '>' | '0';
}

export async function readGroup(redis: Redis, stream: StreamRef, options: ReadOptions): Promise<StreamEntry[]> {
  const block = options.blockMs === undefined ? [] : ['BLOCK', String(options.blockMs)];
  const reply = await redis.call(
    'XREADGROUP',
    'GROUP',
    stream.group,
    options.consumer,
    'COUNT',
    String(options.count),
    ...block,
    'STREAMS',
    stream.key,
    options.from,
  );
  if (reply === null) return [];
  // RESP2 answers [[key, entries]]; ioredis 6 flattens it to [key, entries] (a RESP3-style map).
  const streams = asArray(reply, 'XREADGROUP reply');
  if (streams.length === 0) return [];
  const entries = typeof streams[0] === 'string' ? streams[1] : asArray(streams[0], 'XREADGROUP stream')[1];
  return parseEntries(entries);
}

export interface ClaimResult {
  readonly entries: StreamEntry[];
  /** Cursor for the next XAUTOCLAIM; `0-0` when the whole pending list was scanned. */
  readonly cursor: string;
  /** Ids that were pending but no longer exist in the stream (Redis 7 removes them from the PEL). */
  readonly deletedIds: string[];
}

export async function autoClaim(redis: Redis, stream: StreamRef, consumer: string, minIdleMs: number, cursor: string, count: number): Promise<ClaimResult> {
  const reply = asArray(
    await redis.call('XAUTOCLAIM', stream.key, stream.group, consumer, String(minIdleMs), cursor, 'COUNT', String(count)),
    'XAUTOCLAIM reply',
  );
  const deleted = reply[2] === undefined ? [] : asArray(reply[2], 'XAUTOCLAIM deleted ids').map(String);
  return { cursor: String(reply[0]), entries: parseEntries(reply[1]), deletedIds: deleted };
}

/**
 * Deletes the group's consumers that are idle at least `minIdleMs` (no XREADGROUP, XCLAIM or
 * XAUTOCLAIM under their name for that long) and own no pending entries; returns their names.
 * XGROUP DELCONSUMER drops a consumer's pending entries with it, and those would then never be
 * delivered again, so the check and the delete run in ONE script: no read can give the consumer an
 * entry between them. A consumer deleted while still alive loses nothing: its next XREADGROUP
 * creates it again. `keep` (this process's own names) is never deleted.
 */
const DELETE_IDLE_CONSUMERS = `
local minIdle = tonumber(ARGV[2])
local keep = {}
for i = 3, #ARGV do keep[ARGV[i]] = true end
local deleted = {}
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for j = 1, #info, 2 do fields[info[j]] = info[j + 1] end
  local name = fields['name']
  if name and not keep[name] and fields['pending'] == 0 and fields['idle'] >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    deleted[#deleted + 1] = name
  end
end
return deleted`;

export async function deleteIdleConsumers(redis: Redis, stream: StreamRef, minIdleMs: number, keep: readonly string[]): Promise<string[]> {
  const reply = await redis.eval(DELETE_IDLE_CONSUMERS, 1, stream.key, stream.group, String(minIdleMs), ...keep);
  return asArray(reply, 'deleted consumers').map(String);
}

export interface GroupStats {
  readonly length: number;
  readonly pending: number;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions it may not). */
  readonly lag: number | null;
}

export async function readGroupStats(redis: Redis, stream: StreamRef): Promise<GroupStats> {
  const results = (await redis.pipeline().xlen(stream.key).call('XPENDING', stream.key, stream.group).call('XINFO', 'GROUPS', stream.key).exec()) ?? [];
  const [lengthResult, pendingResult, groupsResult] = results;
  // XLEN fails only when Redis does (a missing stream is 0): then nothing here is known, and zeros
  // would read as "no backlog" on a dashboard.
  if (!lengthResult || lengthResult[0]) throw lengthResult?.[0] ?? new Error('Redis returned no XLEN result');
  const length = Number(lengthResult[1]);
  // XPENDING summary: [count, smallest id, greatest id, [[consumer, count], …]]; errors when the group is missing.
  const pending = pendingResult && !pendingResult[0] && Array.isArray(pendingResult[1]) ? Number(pendingResult[1][0] ?? 0) : 0;
  let lag: number | null = null;
  if (groupsResult && !groupsResult[0] && Array.isArray(groupsResult[1])) {
    for (const group of groupsResult[1] as unknown[]) {
      const info = pairsToRecord(asArray(group, 'XINFO GROUPS entry'));
      if (info['name'] === stream.group) lag = info['lag'] === null || info['lag'] === undefined ? null : Number(info['lag']);
    }
  }
  return { length, pending, lag };
}

function parseEntries(value: unknown): StreamEntry[] {
  return asArray(value, 'stream entries').map((item) => {
    const pair = asArray(item, 'stream entry');
    const fields = pair[1];
    return { id: String(pair[0]), fields: fields === null ? null : asStrings(fields, 'stream entry fields') };
  });
}

/** The array itself once every item is checked to be a string (ioredis already decoded them): no copy per entry. */
function asStrings(value: unknown, what: string): string[] {
  const items = asArray(value, what);
  for (const item of items) if (typeof item !== 'string') throw new Error(`Unexpected ${what} from Redis: ${JSON.stringify(value)}`);
  return items as string[];
}

function pairsToRecord(items: readonly unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < items.length; i += 2) record[String(items[i])] = items[i + 1];
  return record;
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`Unexpected ${what} from Redis: ${JSON.stringify(value)}`);
  return value;
}
