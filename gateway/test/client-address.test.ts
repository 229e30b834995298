// Who a request is counted as when the gateway sits behind proxies (TRUST_FORWARDED_FOR): the
// X-Forwarded-For entry TRUSTED_PROXY_HOPS from the right, the one our own proxy wrote. The
// left-most entry is whatever the client sent; counting by it gave every request a fresh bucket.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';
import { clientAddress } from '../src/http/client.ts';
import { startTestGateway, type TestGateway, withinOneRateWindow } from './helpers/test-gateway.ts';
import { composeTestSupergraph, startProductsSubgraph, startReviewsSubgraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';

function request(forwardedFor: string | undefined): IncomingMessage {
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  return { headers, socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage;
}

describe('clientAddress', () => {
  it('ignores X-Forwarded-For unless TRUST_FORWARDED_FOR', () => {
    assert.equal(clientAddress(request('203.0.113.9'), { trustForwardedFor: false, trustedProxyHops: 1 }), '10.0.0.1');
  });

  it('takes the entry TRUSTED_PROXY_HOPS from the right, not the client-written left-most one', () => {
    const header = 'spoofed-1, 198.51.100.7, 203.0.113.9';
    assert.equal(clientAddress(request(header), { trustForwardedFor: true, trustedProxyHops: 1 }), '203.0.113.9');
    assert.equal(clientAddress(request(header), { trustForwardedFor: true, trustedProxyHops: 2 }), '198.51.100.7');
    assert.equal(clientAddress(request(' 198.51.100.7 ,203.0.113.9,'), { trustForwardedFor: true, trustedProxyHops: 1 }), '203.0.113.9');
  });

  it('falls back to the socket peer when fewer entries than hops arrived', () => {
    assert.equal(clientAddress(request('203.0.113.9'), { trustForwardedFor: true, trustedProxyHops: 2 }), '10.0.0.1');
    assert.equal(clientAddress(request(undefined), { trustForwardedFor: true, trustedProxyHops: 1 }), '10.0.0.1');
    assert.equal(clientAddress(request(' , '), { trustForwardedFor: true, trustedProxyHops: 1 }), '10.0.0.1');
  });

  it('reads TRUSTED_PROXY_HOPS as an integer of at least 1 (default 1)', () => {
    assert.equal(loadConfig({}).trustedProxyHops, 1);
    assert.equal(loadConfig({ TRUSTED_PROXY_HOPS: '2' }).trustedProxyHops, 2);
    for (const bad of ['0', '-1', '1.5', 'two']) {
      assert.throws(
        () => loadConfig({ TRUSTED_PROXY_HOPS: bad }),
        (error: unknown) => error instanceof ConfigError && /TRUSTED_PROXY_HOPS/.test(error.message),
      );
    }
  });
});

describe('rate limit behind a proxy (TRUST_FORWARDED_FOR=true, RATE_LIMIT_PER_MINUTE=3)', () => {
  let subgraphs: RunningSubgraph[];
  let gateway: TestGateway;
  before(async () => {
    subgraphs = [await startProductsSubgraph({ withAuth: true }), await startReviewsSubgraph()];
    gateway = await startTestGateway(composeTestSupergraph(subgraphs), { RATE_LIMIT_PER_MINUTE: '3', TRUST_FORWARDED_FOR: 'true' });
  });
  after(async () => {
    await gateway.close();
    for (const subgraph of subgraphs) await subgraph.close();
  });

  it('counts a client by what the proxy appended, whatever it put on the left', async () => {
    await withinOneRateWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { status } = await gateway.graphql({ query: '{ topProducts(first: 1) { name } }' }, { 'x-forwarded-for': `10.9.0.${i}, 203.0.113.9` });
      statuses.push(status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    // Another client behind the same proxy has its own bucket.
    assert.equal((await gateway.graphql({ query: '{ topProducts(first: 1) { name } }' }, { 'x-forwarded-for': '203.0.113.10' })).status, 200);
  });
});
