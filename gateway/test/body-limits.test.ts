// Requests over a size limit get an answer saying so, on every transport: 413 with a GraphQL error
// body for an SSE or multipart request over the stream limit (whether it declares its length or
// arrives chunked) and for an HTTP /graphql body over BODY_LIMIT_BYTES sent chunked; a WebSocket
// message over the limit closes the socket 1009 with a reason naming the limit. Before, the body
// reader destroyed the socket at the limit and the client got an empty reply.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startHarness, type Harness } from './fixtures/subscriptions/harness.ts';
import { WsTestClient } from './fixtures/subscriptions/test-clients.ts';
import { startForeignStack, type ForeignStack } from './helpers/foreign-stack.ts';
import type { TestGateway } from './helpers/test-gateway.ts';

const STREAM_LIMIT = 65_536;

/** POSTs `body` to `url` as one write (with Content-Length) or in 16 KiB chunks (chunked encoding). */
function postRaw(url: string, headers: Record<string, string>, body: string, chunked: boolean): Promise<{ status: number; body: unknown } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    if (!chunked) req.setHeader('content-length', Buffer.byteLength(body));
    for (let offset = 0; offset < body.length; offset += 16_384) req.write(body.slice(offset, offset + 16_384));
    req.end();
  });
}

const oversized = (bytes: number): string => JSON.stringify({ query: `subscription { ticks(room: "big") { n } } # ${'x'.repeat(bytes)}` });

describe('requests over a size limit', () => {
  describe('SSE and multipart streams', () => {
    let harness: Harness;
    before(async () => {
      harness = await startHarness();
    });
    after(() => harness.close());

    for (const [accept, chunked] of [
      ['text/event-stream', false],
      ['text/event-stream', true],
      ['multipart/mixed;subscriptionSpec="1.0"', true],
    ] as const) {
      it(`answers 413 to ${accept}${chunked ? ' (chunked)' : ''} over ${STREAM_LIMIT} bytes`, async () => {
        const outcome = await postRaw(harness.url, { accept }, oversized(STREAM_LIMIT + 1000), chunked);
        assert.deepEqual(outcome, {
          status: 413,
          body: { errors: [{ message: `The request body exceeds ${STREAM_LIMIT} bytes`, extensions: { code: 'BAD_USER_INPUT', limitBytes: STREAM_LIMIT } }] },
        });
        assert.equal(harness.counter.active('big'), 0);
      });
    }

    it('closes a WebSocket whose message is over the limit with 1009 and a reason naming it', async () => {
      const client = await WsTestClient.connect(harness.wsUrl);
      await client.init();
      const message = JSON.stringify({ id: '1', type: 'subscribe', payload: JSON.parse(oversized(STREAM_LIMIT)) });
      client.send(message);
      assert.deepEqual(await client.waitForClose(), {
        code: 1009,
        reason: `Message too big: ${Buffer.byteLength(message)} bytes, the limit is ${STREAM_LIMIT}`,
      });
      assert.equal(harness.counter.active('big'), 0);
    });
  });

  describe('HTTP /graphql (BODY_LIMIT_BYTES=1024)', () => {
    let stack: ForeignStack;
    let gateway: TestGateway;
    before(async () => {
      stack = await startForeignStack({ AUTH_MODE: 'none', BODY_LIMIT_BYTES: '1024', RATE_LIMIT_PER_MINUTE: '0' });
      ({ gateway } = stack);
    });
    after(() => stack?.close());

    it('answers 413 to a chunked body over the limit', async () => {
      const body = JSON.stringify({ query: `{ topProducts { name } } # ${'x'.repeat(40_000)}` });
      const outcome = await postRaw(`${gateway.url}/graphql`, {}, body, true);
      assert.deepEqual(outcome, {
        status: 413,
        body: { errors: [{ message: 'The request body exceeds 1024 bytes', extensions: { code: 'BAD_USER_INPUT', limitBytes: 1024 } }] },
      });
    });
  });
});
