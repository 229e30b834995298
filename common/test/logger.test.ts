// Log lines are JSON with the active trace/span ids, and credentials never reach the output.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { createLogger } from '../src/logger.ts';
import { startTelemetry, type Telemetry } from '../src/telemetry/sdk.ts';
import { withSpan } from '../src/telemetry/propagation.ts';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const logger = createLogger({ service: 'votemesh-test', destination: stream });
  return {
    logger,
    text: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const SECRET = 's3cr3t-VALUE-that-must-not-leak';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2b3RlciJ9.c2lnbmF0dXJl';

describe('createLogger', () => {
  let telemetry: Telemetry;
  before(async () => {
    telemetry = await startTelemetry({
      serviceName: 'votemesh-test',
      serviceVersion: '0.0.0',
      env: {},
      instrumentations: [],
      spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
    });
  });
  after(() => telemetry.shutdown());

  it('writes JSON with trace_id and span_id inside a span, and without them outside', async () => {
    const { logger, lines } = capture();
    logger.info('outside');
    const ids = await withSpan(trace.getTracer('test'), 'work', {}, (span) => {
      logger.info({ pollId: 'p1' }, 'inside');
      return span.spanContext();
    });
    const [outside, inside] = lines();
    assert.equal(outside?.msg, 'outside');
    assert.equal(outside?.trace_id, undefined);
    assert.equal(inside?.msg, 'inside');
    assert.equal(inside?.name, 'votemesh-test');
    assert.equal(inside?.pollId, 'p1');
    assert.equal(inside?.trace_id, ids.traceId);
    assert.equal(inside?.span_id, ids.spanId);
  });

  const leaks: [string, Record<string, unknown>][] = [
    ['a token', { token: SECRET }],
    ['a nested token', { identity: { token: SECRET } }],
    ['an authorization header', { headers: { authorization: `Bearer ${SECRET}` } }],
    ['a request authorization header', { req: { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } } }],
    ['a nested request authorization header', { request: { headers: { authorization: `Bearer ${SECRET}` } } }],
    ['graphql-ws connectionParams authorization', { connectionParams: { authorization: `Bearer ${SECRET}` } }],
    ['the admin secret', { adminSecret: SECRET }],
    ['a nested admin secret', { config: { adminSecret: SECRET } }],
    ['a password', { password: SECRET }],
    ['a secret', { config: { secret: SECRET } }],
  ];
  for (const [what, object] of leaks) {
    it(`redacts ${what}`, () => {
      const { logger, text, lines } = capture();
      logger.info(object, 'request');
      assert.ok(!text().includes(SECRET), `the secret leaked: ${text()}`);
      assert.ok(text().includes('[redacted]'), 'a redaction marker stands in for the value');
      assert.equal(lines()[0]?.msg, 'request');
    });
  }

  it('redacts the forwarded identity JWT (x-votemesh-identity header, connectionParams.identity)', () => {
    const { logger, text } = capture();
    logger.info({ headers: { 'x-votemesh-identity': JWT } }, 'subgraph request');
    logger.info({ req: { headers: { 'x-votemesh-identity': JWT, cookie: `session=${SECRET}` } } }, 'subgraph request');
    logger.info({ connectionParams: { identity: JWT } }, 'graphql-ws connect');
    assert.ok(!text().includes(JWT), `the identity token leaked: ${text()}`);
    assert.ok(!text().includes(SECRET), `the cookie leaked: ${text()}`);
  });

  it('keeps everything that is not a credential', () => {
    const { logger, lines } = capture();
    logger.info({ req: { method: 'POST', url: '/graphql', headers: { 'x-request-id': 'r1', authorization: `Bearer ${SECRET}` } } }, 'request');
    const [line] = lines();
    assert.deepEqual(line?.req, { method: 'POST', url: '/graphql', headers: { 'x-request-id': 'r1', authorization: '[redacted]' } });
  });
});
