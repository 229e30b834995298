// One vote = one trace: the SDK started in-process exactly as a process's instrument.ts does
// (module hooks → SDK → ready), with an in-memory exporter instead of OTLP.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { installModuleHooks } from '../src/telemetry/instrument-process.ts';
import { startTelemetry } from '../src/telemetry/sdk.ts';
import { ATTR, ATTR_VALUES, SPAN_NAMES, TRACER_NAMES, VOTES_DESTINATION } from '../src/telemetry/names.ts';
import { contextFromTraceparent, injectHeaders, injectTraceparent, withSpan } from '../src/telemetry/propagation.ts';
import { waitFor } from '../src/testing/wait-for.ts';

const exporter = new InMemorySpanExporter();
const hooks = installModuleHooks();
const telemetry = await startTelemetry({
  serviceName: 'votemesh-test',
  serviceVersion: '0.0.0',
  env: {},
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
await hooks.ready();
// Imported after the SDK, as the application is after instrument.ts.
const http = await import('node:http');
const { buildSchema, graphql } = await import('graphql');
// errors.ts (and the contracts, through parse.ts) import graphql: they too must load after the
// SDK, or graphql would not be instrumented.
const { VotemeshError } = await import('../src/errors.ts');
const { encodeVoteEntry, parseVoteEntry } = await import('../src/contracts/vote-entry.ts');

const tracer = trace.getTracer(TRACER_NAMES.common);

function spansNamed(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

function get(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function listen(handler: (request: import('node:http').IncomingMessage) => Promise<string>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    handler(request).then(
      (body) => response.end(body),
      (error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      },
    );
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

describe('telemetry propagation', () => {
  after(() => telemetry.shutdown());

  describe('over HTTP (gateway → subgraph)', () => {
    let subgraph: Awaited<ReturnType<typeof listen>>;
    let gateway: Awaited<ReturnType<typeof listen>>;
    before(async () => {
      subgraph = await listen(async (request) => JSON.stringify({ traceparent: request.headers.traceparent, requestId: request.headers['x-request-id'] }));
      // The gateway's handler calls the subgraph from inside its own server span.
      gateway = await listen(async () => get(`${subgraph.url}/graphql`, { 'x-request-id': 'req-42' }));
    });
    after(async () => {
      await gateway.close();
      await subgraph.close();
    });

    it('puts the client call, both servers and the caller in one trace', async () => {
      exporter.reset();
      const body = await withSpan(tracer, 'test.client', {}, () => get(`${gateway.url}/graphql`));
      const seen = JSON.parse(body) as { traceparent?: string; requestId?: string };

      const spans = await waitFor(
        () => {
          const finished = exporter.getFinishedSpans();
          return finished.filter((span) => span.kind === SpanKind.SERVER).length === 2 && finished.length >= 5 && finished;
        },
        { what: '2 server spans, 2 client spans and the caller span' },
      );
      const root = spansNamed('test.client')[0];
      assert.ok(root, 'caller span exported');
      const traceId = root.spanContext().traceId;
      assert.deepEqual(new Set(spans.map((span) => span.spanContext().traceId)), new Set([traceId]), 'every span shares the caller trace id');

      // The subgraph saw a traceparent naming the gateway's client span as parent.
      const clientSpans = spans.filter((span) => span.kind === SpanKind.CLIENT);
      assert.equal(clientSpans.length, 2);
      const [, parentSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen.traceparent ?? '')?.slice(1) ?? [];
      assert.ok(parentSpanId, `subgraph received a sampled W3C traceparent, got ${seen.traceparent}`);
      const upstreamCall = clientSpans.find((span) => span.spanContext().spanId === parentSpanId);
      assert.ok(upstreamCall, 'the traceparent names a client span of this trace');
      assert.equal(seen.requestId, 'req-42');
      const subgraphServer = spans.find((span) => span.kind === SpanKind.SERVER && span.parentSpanContext?.spanId === parentSpanId);
      assert.ok(subgraphServer, 'the subgraph server span is a child of the gateway client span');
      assert.deepEqual(subgraphServer.attributes[ATTR.HTTP_REQUEST_ID], ['req-42'], 'x-request-id recorded on the server span');
    });

    it('does not trace probe and scrape requests', async () => {
      exporter.reset();
      await get(`${subgraph.url}/healthz`);
      await get(`${subgraph.url}/graphql`);
      await waitFor(() => spansNamed('GET').some((span) => span.kind === SpanKind.SERVER), { what: 'the /graphql server span' });
      const serverPaths = exporter
        .getFinishedSpans()
        .filter((span) => span.kind === SpanKind.SERVER)
        .map((span) => span.attributes['url.path'] ?? span.attributes['http.target']);
      assert.deepEqual(serverPaths, ['/graphql']);
    });
  });

  describe('through a votes stream entry (vote subgraph → worker)', () => {
    it("links the worker's batch span to every vote's send span", async () => {
      exporter.reset();
      const sent: { traceId: string; spanId: string; fields: string[] }[] = [];
      for (let i = 0; i < 3; i += 1) {
        await withSpan(
          tracer,
          SPAN_NAMES.votesSend,
          { [ATTR.MESSAGING_SYSTEM]: ATTR_VALUES.MESSAGING_SYSTEM_REDIS, [ATTR.MESSAGING_DESTINATION_NAME]: VOTES_DESTINATION },
          (span) => {
            const traceparent = injectTraceparent();
            assert.ok(traceparent);
            const fields = encodeVoteEntry({
              receiptId: crypto.randomUUID(),
              pollId: crypto.randomUUID(),
              optionId: crypto.randomUUID(),
              voterId: `voter-${i}`,
              castAt: new Date().toISOString(),
              traceparent,
            });
            sent.push({ ...span.spanContext(), fields });
          },
          { kind: SpanKind.PRODUCER, parent: ROOT_CONTEXT },
        );
      }

      // The worker side: parse entries (as read from XREADGROUP), one batch span linking to all
      // (the worker's own link building and its cap are tested in worker/test/batch-trace.test.ts).
      const entries = sent.map(({ fields }) => parseVoteEntry(fields));
      const links = entries.map((entry) => {
        const linked = trace.getSpanContext(contextFromTraceparent(entry.traceparent));
        assert.ok(linked, 'the stream entry carries a usable traceparent');
        return { context: linked };
      });
      await withSpan(tracer, SPAN_NAMES.tallyApplyBatch, { [ATTR.MESSAGING_BATCH_MESSAGE_COUNT]: entries.length }, () => {}, { links, parent: ROOT_CONTEXT });

      const [batch] = spansNamed(SPAN_NAMES.tallyApplyBatch);
      assert.ok(batch);
      assert.equal(batch.links.length, 3);
      assert.deepEqual(
        batch.links.map((link) => [link.context.traceId, link.context.spanId]),
        sent.map(({ traceId, spanId }) => [traceId, spanId]),
      );
      assert.ok(!sent.some(({ traceId }) => traceId === batch.spanContext().traceId), 'the batch is its own trace, linked not parented');

      // A per-vote child span continues the vote's own trace.
      const first = entries[0];
      assert.ok(first?.traceparent);
      await withSpan(tracer, 'per-vote', {}, () => {}, { parent: contextFromTraceparent(first.traceparent) });
      assert.equal(spansNamed('per-vote')[0]?.spanContext().traceId, sent[0]?.traceId);
    });

    it('ignores missing and malformed traceparents', () => {
      for (const traceparent of [undefined, 'nope', '00-00000000000000000000000000000000-b7ad6b7169203331-01']) {
        assert.equal(trace.getSpanContext(contextFromTraceparent(traceparent)), undefined, String(traceparent));
      }
      assert.equal(trace.getSpanContext(contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'))?.spanId, 'b7ad6b7169203331');
    });
  });

  describe('auto-instrumentation', () => {
    it('loads http, graphql, ioredis, pg and grpc', () => {
      assert.deepEqual(telemetry.problems, []);
    });

    it('names GraphQL operation spans with semconv attributes inside the caller trace', async () => {
      exporter.reset();
      const schema = buildSchema('type Query { poll(id: ID!): String }');
      const traceId = await withSpan(tracer, 'test.request', {}, async (span) => {
        const result = await graphql({ schema, source: 'query PollById { poll(id: "1") }', rootValue: { poll: () => 'p1' } });
        assert.deepEqual(result.errors, undefined);
        return span.spanContext().traceId;
      });
      const execute = exporter.getFinishedSpans().find((span) => span.attributes[ATTR.GRAPHQL_OPERATION_NAME] === 'PollById');
      assert.ok(execute, 'an execute span carries graphql.operation.name');
      assert.equal(execute.attributes[ATTR.GRAPHQL_OPERATION_TYPE], 'query');
      assert.equal(execute.spanContext().traceId, traceId);
    });
  });

  describe('helpers', () => {
    it('injectTraceparent is undefined outside a span and matches the active span inside one', async () => {
      assert.equal(
        context.with(ROOT_CONTEXT, () => injectTraceparent()),
        undefined,
      );
      await withSpan(tracer, 'inner', {}, (span) => {
        const { traceId, spanId } = span.spanContext();
        assert.equal(injectTraceparent(), `00-${traceId}-${spanId}-01`);
        assert.equal(injectHeaders({ 'x-other': '1' }).traceparent, `00-${traceId}-${spanId}-01`);
      });
    });

    it('withSpan records a votemesh error with its code and rethrows it', async () => {
      exporter.reset();
      await assert.rejects(
        withSpan(tracer, 'failing', {}, () => {
          throw new VotemeshError('POLL_NOT_OPEN', 'poll is closed');
        }),
        /poll is closed/,
      );
      const [span] = spansNamed('failing');
      assert.equal(span?.status.code, SpanStatusCode.ERROR);
      assert.equal(span?.attributes[ATTR.ERROR_TYPE], 'POLL_NOT_OPEN');
      assert.equal(span?.events[0]?.name, 'exception');
    });
  });
});
