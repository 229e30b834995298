// Two real audit replicas sharing one database and one Redis prefix, as in a deployment with
// several pods: an admin subscribed to auditEvents through either replica sees what both append,
// each replica's commits in seq order, and never an event twice.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { identitySecretKey, signIdentity } from '@votemesh/common/contracts/identity';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN, makeEvent, SECRET, startHarness, testRedisPrefix, type Harness } from './harness.ts';

interface LiveEvent {
  seq: string;
  eventId: string;
  at: string;
  actor: string;
  action: string;
  subjectType: string;
  subjectId: string;
  pollId: string | null;
  traceId: string | null;
  data: string;
  prevHash: string;
  hash: string;
}

const SUBSCRIPTION = `subscription($f: AuditLogFilter) {
  auditEvents(filter: $f) { seq eventId at actor action subjectType subjectId pollId traceId data prevHash hash }
}`;

/** `data` parsed: PostgreSQL's jsonb reorders keys, the live feed keeps the sender's order. */
type ComparableEvent = Omit<LiveEvent, 'data'> & { data: unknown };

function comparable(event: LiveEvent): ComparableEvent {
  return { ...event, data: JSON.parse(event.data) };
}

interface Feed {
  readonly events: LiveEvent[];
  readonly errors: unknown[];
}

describe('auditEvents across replicas', () => {
  let a: Harness;
  let b: Harness;
  const clients: Client[] = [];
  before(async () => {
    const redisPrefix = testRedisPrefix();
    // Small batches on A: one Record call becomes several commits, hence several bus messages.
    a = await startHarness({ redisPrefix, appendMaxBatch: 3, appendMaxDelayMs: 5 });
    b = await startHarness({ redisPrefix, db: a.db });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.dispose()));
    await waitForSubscribers(a, 0);
    await waitForSubscribers(b, 0);
  });
  after(async () => {
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
  });

  async function subscribe(replica: Harness, pollId: string): Promise<Feed> {
    const client = createClient({
      url: `${replica.audit.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { identity: await signIdentity(identitySecretKey(SECRET), ADMIN) },
      retryAttempts: 0,
    });
    clients.push(client);
    const feed: Feed = { events: [], errors: [] };
    client.subscribe<{ auditEvents: LiveEvent }>(
      { query: SUBSCRIPTION, variables: { f: { pollId } } },
      {
        next: (result) => {
          if (result.errors) feed.errors.push(result.errors);
          else if (result.data) feed.events.push(result.data.auditEvents);
        },
        error: (error) => feed.errors.push(error),
        complete: () => undefined,
      },
    );
    return feed;
  }

  /** The feed of a replica is live (its bus subscription taken) once its gauge counts the subscriber. */
  async function waitForSubscribers(replica: Harness, count: number): Promise<void> {
    await waitFor(
      async () => new RegExp(`votemesh_audit_feed_subscribers\\{[^}]*\\} ${count}\\n`).test(await (await fetch(`${replica.audit.url}/metrics`)).text()),
      {
        what: `${count} auditEvents subscriber(s) on ${replica.audit.url}`,
      },
    );
  }

  /** The stored rows of a poll in seq order, shaped as the subscription answers them. */
  async function storedEvents(pollId: string): Promise<ComparableEvent[]> {
    const rows = await a.prisma.auditEvent.findMany({ where: { pollId }, orderBy: { seq: 'asc' } });
    return rows.map((row) => ({
      seq: row.seq.toString(),
      eventId: row.eventId,
      at: row.at.toISOString(),
      actor: row.actor,
      action: row.action,
      subjectType: row.subjectType,
      subjectId: row.subjectId,
      pollId: row.pollId,
      traceId: row.traceId,
      data: row.data,
      prevHash: row.prevHash,
      hash: row.hash,
    }));
  }

  function seqs(events: readonly LiveEvent[]): bigint[] {
    return events.map((event) => BigInt(event.seq));
  }

  function assertIncreasing(values: readonly bigint[], what: string): void {
    for (let i = 1; i < values.length; i += 1) assert.ok((values[i] ?? 0n) > (values[i - 1] ?? 0n), `${what}: seq ${values[i]} after ${values[i - 1]}`);
  }

  it('pushes events ingested by replica A to a subscriber of replica B, in seq order with every field; A sees each once', async () => {
    const pollId = randomUUID();
    const onB = await subscribe(b, pollId);
    const onA = await subscribe(a, pollId);
    await waitForSubscribers(b, 1);
    await waitForSubscribers(a, 1);

    const sent = Array.from({ length: 10 }, (_, i) =>
      makeEvent({ poll_id: pollId, subject_id: `a-${i}`, trace_id: i % 2 === 0 ? `trace-${i}` : '', data_json: JSON.stringify({ i, z: { b: [1, 'x'] } }) }),
    );
    const summary = await a.record(sent);
    assert.equal(summary.accepted, '10');

    await waitFor(() => onB.events.length >= 10, { what: 'ten events on replica B' });
    const stored = await storedEvents(pollId);
    assert.equal(stored.length, 10);
    assert.deepEqual(onB.events.map(comparable), stored);
    assertIncreasing(seqs(onB.events), 'replica B');
    assert.deepEqual(
      onB.events.map((event) => event.subjectId),
      sent.map((event) => event.subject_id),
    );

    // A sentinel recorded afterwards on the same replica arrives after every earlier event of
    // that replica (per-replica order), so once it is there any duplicate would be there too.
    const sentinel = makeEvent({ poll_id: pollId, subject_id: 'sentinel' });
    await a.record([sentinel]);
    await waitFor(() => onA.events.some((event) => event.subjectId === 'sentinel'), { what: 'the sentinel on replica A' });
    await waitFor(() => onB.events.some((event) => event.subjectId === 'sentinel'), { what: 'the sentinel on replica B' });
    const all = await storedEvents(pollId);
    assert.deepEqual(onA.events.map(comparable), all, 'replica A delivers each of its own events exactly once, in seq order');
    assert.deepEqual(onB.events.map(comparable), all);
    assert.deepEqual(onA.errors, []);
    assert.deepEqual(onB.errors, []);
  });

  it('delivers what either replica appends to subscribers of both, each replica in seq order', async () => {
    const pollId = randomUUID();
    const onA = await subscribe(a, pollId);
    const onB = await subscribe(b, pollId);
    await waitForSubscribers(a, 1);
    await waitForSubscribers(b, 1);

    // Concurrent streams on both replicas: their commits interleave in the chain.
    await Promise.all([
      a.record(Array.from({ length: 12 }, (_, i) => makeEvent({ poll_id: pollId, subject_id: `a-${i}` }))),
      b.record(Array.from({ length: 12 }, (_, i) => makeEvent({ poll_id: pollId, subject_id: `b-${i}` }))),
    ]);
    await waitFor(() => onA.events.length >= 24 && onB.events.length >= 24, { what: '24 events on both replicas' });
    const stored = await storedEvents(pollId);
    for (const [name, feed] of [
      ['A', onA],
      ['B', onB],
    ] as const) {
      const bySeq = [...feed.events].sort((x, y) => (BigInt(x.seq) < BigInt(y.seq) ? -1 : 1));
      assert.deepEqual(bySeq.map(comparable), stored, `replica ${name} received every event once`);
      assertIncreasing(seqs(feed.events.filter((event) => event.subjectId.startsWith('a-'))), `replica ${name}, events appended by A`);
      assertIncreasing(seqs(feed.events.filter((event) => event.subjectId.startsWith('b-'))), `replica ${name}, events appended by B`);
    }
  });

  it('releases the bus subscription when the last subscriber leaves and takes it again for the next', async () => {
    const pollId = randomUUID();
    const before = await subscribe(b, pollId);
    await waitForSubscribers(b, 1);
    await clients.pop()?.dispose();
    await waitForSubscribers(b, 0);
    assert.deepEqual(before.errors, []);

    const onB = await subscribe(b, pollId);
    await waitForSubscribers(b, 1);
    await a.record([makeEvent({ poll_id: pollId, subject_id: 'after-resubscribe' })]);
    await waitFor(() => onB.events.length === 1, { what: 'the event after resubscribing' });
    assert.equal(onB.events[0]?.subjectId, 'after-resubscribe');
  });
});
