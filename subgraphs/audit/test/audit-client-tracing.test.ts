// Where the audit client's work lands in traces, with the SDK started in-process (in-memory
// exporter) against the real audit server and Redis. The AuditIngest call is long-lived and shared
// by every request that records an event, so it must not become part of the request that happened
// to open it: the call (and its spool traffic) runs in the root context, its client span is the
// root of a trace of its own, and each event names its operation's trace in `trace_id` instead.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { startSpanRecorder, type ReadableSpan } from '@votemesh/common/testing/span-recorder';
import { waitFor } from '@votemesh/common/testing/wait-for';

const recorder = await startSpanRecorder('audit-client-tracing-test');
// grpc, ioredis and pg load after the SDK, so their instrumentations are in place.
const { createAuditClient } = await import('@votemesh/common/grpc/audit-client');
const { auditSpoolKey, createRedisAuditSpool } = await import('@votemesh/common/grpc/audit-spool');
const { createLogger } = await import('@votemesh/common/logger');
const { activeTraceId } = await import('@votemesh/common/telemetry/propagation');
const { deleteRedisPrefix } = await import('@votemesh/common/testing/redis');
const { Redis } = await import('ioredis');
const { makeDraft, REDIS_URL, startHarness, testRedisPrefix } = await import('./harness.ts');

const tracer = trace.getTracer(TRACER_NAMES.vote);
const logger = createLogger({ service: 'audit-client-tracing-test', level: 'error' });

const isIngestSpan = (span: ReadableSpan): boolean => span.name.startsWith('grpc.votemesh.audit.v1.AuditIngest/');
const traceOf = (traceId: string): ReadableSpan[] => recorder.spans().filter((span) => span.spanContext().traceId === traceId);

describe('audit client tracing', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  let redis: InstanceType<typeof Redis>;
  const prefix = testRedisPrefix();

  before(async () => {
    // The harness's own setup (migrations, Redis) is not what this test is about.
    h = await context.with(ROOT_CONTEXT, () => startHarness({ appendMaxDelayMs: 5 }));
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    await deleteRedisPrefix(redis, prefix);
    redis.disconnect();
    await h[Symbol.asyncDispose]();
    await recorder.shutdown();
  });

  it('keeps the long-lived ingest call out of the requests that record events, which it links by trace_id', async () => {
    const spool = createRedisAuditSpool(redis, auditSpoolKey(prefix, 'vote'));
    // A long rotation: one call stays open across both requests, as in production under load.
    const client = createAuditClient({ address: h.audit.grpcAddress, logger, source: 'vote', spool, rotateEveryMs: 60_000, batchDelayMs: 1 });
    try {
      recorder.reset();
      // Two castVote-like requests, each recording one event while it is the active span; the
      // first one's event is what opens the call.
      const requests: { traceId: string; eventId: string }[] = [];
      for (const n of [1, 2]) {
        await tracer.startActiveSpan(`vote.cast ${n}`, async (span) => {
          const draft = makeDraft();
          const traceId = activeTraceId();
          assert.ok(traceId);
          client.record({ ...draft, traceId });
          requests.push({ traceId, eventId: draft.eventId });
          // The request lives on while the call is open and its event is written to it.
          await waitFor(() => client.stats().messagesSent >= n, { timeoutMs: 5000, what: `event ${n} written to the call` });
          span.end();
        });
      }
      await client.flush();
      await client.persisted();

      for (const { traceId } of requests) {
        const names = traceOf(traceId).map((span) => span.name);
        assert.deepEqual(
          names.filter((name) => !name.startsWith('vote.cast')),
          [],
          `request trace ${traceId} holds only its own span`,
        );
      }
      await waitFor(() => recorder.spans().some((span) => isIngestSpan(span) && span.kind === 2), { timeoutMs: 5000, what: 'the ingest client span' });
      const ingest = recorder.spans().filter((span) => isIngestSpan(span) && span.kind === 2);
      for (const span of ingest) {
        assert.equal(span.parentSpanContext, undefined, 'the ingest call span is the root of its own trace');
        assert.ok(!requests.some((request) => request.traceId === span.spanContext().traceId));
      }

      // The log links each event to its own request's trace.
      const rows = await h.prisma.auditEvent.findMany({ where: { eventId: { in: requests.map((request) => request.eventId) } } });
      assert.equal(rows.length, 2);
      for (const request of requests) assert.equal(rows.find((row) => row.eventId === request.eventId)?.traceId, request.traceId);
    } finally {
      await client.close();
    }
  });
});
