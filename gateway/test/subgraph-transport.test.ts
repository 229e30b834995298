// The subgraph transport (upstream/subgraph-data-source.ts + subgraph-http.ts + auth/forward-identity.ts)
// against a real HTTP server whose answers each test scripts: what a subgraph receives, and how
// every kind of failure reaches the client naming the subgraph.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IDENTITY_HEADER, identitySecretKey, verifyIdentity } from '@votemesh/common/contracts/identity';
import { GraphQLError } from 'graphql';
import { createIdentityForwarding } from '../src/auth/forward-identity.ts';
import { createIdentitySigner } from '../src/auth/identity-signer.ts';
import { createSubgraphDataSources, type SubgraphDataSource } from '../src/upstream/subgraph-data-source.ts';
import { fetchOf, json, startScriptedSubgraph, type Answer, type Received, type ScriptedSubgraph } from './helpers/scripted-subgraph.ts';

const key = identitySecretKey('subgraph-transport-test-secret');

describe('subgraph transport', () => {
  let subgraph: ScriptedSubgraph;
  let sources: ReturnType<typeof createSubgraphDataSources>;
  const source = (): SubgraphDataSource => sources.byName['things'] as SubgraphDataSource;

  before(async () => {
    subgraph = await startScriptedSubgraph();
    sources = createSubgraphDataSources({
      urls: new Map([['things', subgraph.url]]),
      headersFor: createIdentityForwarding({ signer: createIdentitySigner({ key }) }),
      timeoutMs: 300,
    });
  });
  after(async () => {
    await sources.close();
    await subgraph.close();
  });

  describe('what the subgraph receives', () => {
    it('gets the operation as JSON and the caller as a signed identity, never a forged one', async () => {
      subgraph.answer = json(200, { data: { ok: true }, extensions: { cost: 3 } });
      const forged = new Headers({ [IDENTITY_HEADER]: 'forged', 'apollo-federation-include-trace': 'ftv1' });
      const context = { identity: { subject: 'voter:1', role: 'voter' as const }, requestId: 'req-7', traceHeaders: {} };
      const response = await source().process(fetchOf('{ ok }', context, forged));
      assert.deepEqual(response, { data: { ok: true }, extensions: { cost: 3 } });
      const { headers, body } = subgraph.received.at(-1) as Received;
      assert.deepEqual(body, { query: '{ ok }', variables: { a: 1 } });
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(headers['apollo-federation-include-trace'], 'ftv1');
      assert.deepEqual(await verifyIdentity(key, String(headers[IDENTITY_HEADER])), { subject: 'voter:1', role: 'voter' });
      assert.equal(headers['x-request-id'], 'req-7');
    });

    it('strips the identity header of an anonymous call and passes the client trace headers through', async () => {
      subgraph.answer = json(200, { data: { ok: true } });
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const context = { identity: undefined, requestId: 'req-8', traceHeaders: { traceparent, baggage: 'k=v' } };
      await source().process(fetchOf('{ ok }', context, new Headers({ [IDENTITY_HEADER]: 'forged' })));
      const { headers } = subgraph.received.at(-1) as Received;
      assert.equal(headers[IDENTITY_HEADER], undefined);
      assert.equal(headers['traceparent'], traceparent);
      assert.equal(headers['baggage'], 'k=v');
    });

    it("forwards a subscription scope's pre-signed identity as it is", async () => {
      subgraph.answer = json(200, { data: { ok: true } });
      await source().process(fetchOf('{ ok }', { identityToken: 'scope-token' }));
      const { headers } = subgraph.received.at(-1) as Received;
      assert.equal(headers[IDENTITY_HEADER], 'scope-token');
      assert.equal(headers['x-request-id'], undefined);
    });
  });

  describe('failures name the subgraph', () => {
    const failure = async (answer: Answer, query = '{ ok }'): Promise<GraphQLError> => {
      subgraph.answer = answer;
      const error = await source()
        .process(fetchOf(query, {}))
        .then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
      assert.ok(error instanceof GraphQLError, `expected a GraphQLError, got ${String(error)}`);
      return error;
    };

    it('a deadline passed without an answer is UPSTREAM_UNAVAILABLE', async () => {
      const error = await failure(() => {}); // never answers
      assert.equal(error.message, 'Subgraph "things" did not answer within 300 ms');
      assert.deepEqual(error.extensions, { code: 'UPSTREAM_UNAVAILABLE', serviceName: 'things' });
    });

    it('a body that stalls after the headers is UPSTREAM_UNAVAILABLE too', async () => {
      const error = await failure((_request, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"data":');
      });
      assert.equal(error.message, 'Subgraph "things" did not answer within 300 ms');
    });

    const notJson: [string, Answer][] = [
      [
        'an HTML page',
        (_request, res) => {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>hello</html>');
        },
      ],
      [
        'broken JSON',
        (_request, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"data": ');
        },
      ],
      ['a JSON array', json(200, [1, 2])],
    ];
    for (const [what, answer] of notJson) {
      it(`${what} is UPSTREAM_ERROR`, async () => {
        const error = await failure(answer);
        assert.equal(error.message, 'Subgraph "things" answered something other than JSON');
        assert.deepEqual(error.extensions, { code: 'UPSTREAM_ERROR', serviceName: 'things' });
      });
    }

    it('an HTTP error without a GraphQL body is UPSTREAM_ERROR with its status', async () => {
      const error = await failure((_request, res) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway');
      });
      assert.equal(error.message, 'Subgraph "things" answered HTTP 502 Bad Gateway');
      assert.deepEqual(error.extensions, { code: 'UPSTREAM_ERROR', serviceName: 'things', status: 502 });
    });

    it("an HTTP error with a GraphQL body is that body's first error, with serviceName", async () => {
      const error = await failure(json(400, { errors: [{ message: 'Variable "$a" is wrong', extensions: { code: 'BAD_USER_INPUT' } }] }));
      assert.equal(error.message, 'Variable "$a" is wrong');
      assert.deepEqual(error.extensions, { code: 'BAD_USER_INPUT', serviceName: 'things' });
    });

    it('an unreachable subgraph is UPSTREAM_UNAVAILABLE', async () => {
      const unreachable = createSubgraphDataSources({ urls: new Map([['gone', 'http://127.0.0.1:9/graphql']]), headersFor: createIdentityForwarding() });
      try {
        const error = await (unreachable.byName['gone'] as SubgraphDataSource).process(fetchOf('{ ok }', {})).catch((thrown: unknown) => thrown);
        assert.ok(error instanceof GraphQLError);
        assert.equal(error.message, 'Subgraph "gone" could not be reached');
        assert.deepEqual(error.extensions, { code: 'UPSTREAM_UNAVAILABLE', serviceName: 'gone' });
      } finally {
        await unreachable.close();
      }
    });
  });
});
