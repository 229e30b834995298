// The request helpers every server shares: the body reader (against a real server: whole bodies,
// chunked bodies, the size limit) and the query-string cut that stands in for `new URL().search`.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createHttpServer, listen, readBody, searchOf, sendJson } from '../src/http-server.ts';

describe('readBody', () => {
  let server: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    server = await listen(
      createHttpServer(async (req, res) => {
        try {
          sendJson(res, 200, { body: await readBody(req, 16) });
        } catch (error) {
          sendJson(res, 413, { error: (error as Error).message });
        }
      }),
      0,
      '127.0.0.1',
    );
  });
  after(() => server.close());

  /** POSTs `chunks` one write each (chunked encoding); resolves with the status and body, or the socket error. */
  const post = (chunks: readonly string[]): Promise<{ status: number; body: unknown } | { error: string }> =>
    new Promise((resolve) => {
      const req = request(`${server.url}/`, { method: 'POST' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });

  it('reads a body in one chunk or many, as UTF-8', async () => {
    assert.deepEqual(await post(['{"a":"é"}']), { status: 200, body: { body: '{"a":"é"}' } });
    assert.deepEqual(await post(['ab', 'cd', 'ef']), { status: 200, body: { body: 'abcdef' } });
    assert.deepEqual(await post([]), { status: 200, body: { body: '' } });
  });

  it('stops at the limit and destroys the request, as leaving a for-await over it did', async () => {
    const outcome = await post(['0123456789', '0123456789']);
    // The answer may or may not make it out before the connection goes.
    if ('status' in outcome) assert.deepEqual(outcome, { status: 413, body: { error: 'request body exceeds 16 bytes' } });
    else assert.match(outcome.error, /ECONNRESET|EPIPE|socket hang up/);
  });
});

describe('searchOf', () => {
  const urls = [
    '/graphql',
    '/graphql?',
    '/graphql?query=%7B%20a%20%7D',
    '/graphql?a=1#x',
    '/graphql#?a',
    '/graphql?query={a b}&v=1',
    '/g?#',
    '/g?a#b?c',
    '/g??x',
  ];
  for (const url of urls) {
    it(`reads ${url} as new URL() does`, () => {
      const expected = new URL(url, 'http://localhost').search;
      assert.equal(new URLSearchParams(searchOf(url)).toString(), new URLSearchParams(expected).toString());
      assert.equal(searchOf(url) === '', expected === '');
    });
  }
});
