// POST /auth/token has a limit of its own (TOKEN_RATE_LIMIT_PER_MINUTE, per client address), not
// the /graphql one: at RATE_LIMIT_PER_MINUTE's 6,000 a minute one address could mint thousands of
// voter identities, i.e. vote thousands of times.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';
import { requestToken, startTestGateway, type TestGateway, withinOneRateWindow } from './helpers/test-gateway.ts';
import { composeTestSupergraph, startProductsSubgraph, startReviewsSubgraph, type RunningSubgraph } from './helpers/test-subgraphs.ts';

describe('token endpoint rate limit', () => {
  let subgraphs: RunningSubgraph[];
  before(async () => {
    subgraphs = [await startProductsSubgraph({ withAuth: true }), await startReviewsSubgraph()];
  });
  after(async () => {
    for (const subgraph of subgraphs) await subgraph.close();
  });

  it('allows 60 tokens a minute per address by default, whatever RATE_LIMIT_PER_MINUTE says', async () => {
    const gateway: TestGateway = await startTestGateway(composeTestSupergraph(subgraphs));
    try {
      await withinOneRateWindow(20_000);
      const statuses: number[] = [];
      for (let i = 0; i < 61; i++) statuses.push((await requestToken(gateway.url)).status);
      assert.deepEqual(
        statuses.filter((status) => status !== 200),
        [429],
      );
      assert.equal(statuses.at(-1), 429);
      const refused = await fetch(`${gateway.url}/auth/token`, { method: 'POST' });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code, 'RATE_LIMITED');
      // /graphql has its own budget, untouched by the token requests.
      assert.equal((await gateway.graphql({ query: '{ topProducts(first: 1) { name } }' })).status, 200);
    } finally {
      await gateway.close();
    }
  });

  it('takes TOKEN_RATE_LIMIT_PER_MINUTE (0 disables it)', async () => {
    const gateway = await startTestGateway(composeTestSupergraph(subgraphs), { TOKEN_RATE_LIMIT_PER_MINUTE: '2', RATE_LIMIT_PER_MINUTE: '0' });
    try {
      await withinOneRateWindow();
      assert.deepEqual(
        [(await requestToken(gateway.url)).status, (await requestToken(gateway.url)).status, (await requestToken(gateway.url)).status],
        [200, 200, 429],
      );
    } finally {
      await gateway.close();
    }
    assert.equal(loadConfig({ TOKEN_RATE_LIMIT_PER_MINUTE: '0' }).tokenRateLimitPerMinute, 0);
    assert.equal(loadConfig({}).tokenRateLimitPerMinute, 60);
    assert.throws(
      () => loadConfig({ TOKEN_RATE_LIMIT_PER_MINUTE: '-1' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'TOKEN_RATE_LIMIT_PER_MINUTE',
    );
  });
});
