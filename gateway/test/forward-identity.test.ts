// Identity forwarding: subgraphs receive the verified caller as an HS256 JWT signed with the
// shared secret, never a client-supplied x-votemesh-identity.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IDENTITY_HEADER, identitySecretKey, signIdentity, verifyIdentity } from '@votemesh/common/contracts/identity';
import { startProductsSubgraph, startReviewsSubgraph, composeTestSupergraph, TEST_IDENTITY_SECRET, type RunningSubgraph } from './helpers/test-subgraphs.ts';
import { bearer, requestToken, startTestGateway, type TestGateway } from './helpers/test-gateway.ts';

describe('forwarded identity', () => {
  let products: RunningSubgraph;
  let reviews: RunningSubgraph;
  let gateway: TestGateway;
  const key = identitySecretKey(TEST_IDENTITY_SECRET);

  before(async () => {
    products = await startProductsSubgraph({ withAuth: true });
    reviews = await startReviewsSubgraph();
    gateway = await startTestGateway(composeTestSupergraph([products, reviews]));
  });
  after(async () => {
    await gateway?.close();
    await products?.close();
    await reviews?.close();
  });

  it('strips a forged identity header from an anonymous client', async () => {
    // The forger even knows the secret: the header is still never passed through.
    const forged = await signIdentity(key, { subject: 'admin:mallory', role: 'admin' });
    const { body } = await gateway.graphql({ query: '{ receivedIdentityHeader }' }, { [IDENTITY_HEADER]: forged });
    assert.deepEqual(body, { data: { receivedIdentityHeader: null } });
  });

  it('replaces a forged identity header with the verified caller', async () => {
    const token = await requestToken(gateway.url);
    const forged = await signIdentity(key, { subject: 'admin:mallory', role: 'admin' });
    const { body } = await gateway.graphql(
      { query: '{ receivedIdentityHeader viewer { subject role } }' },
      { ...bearer(token.body['token']), [IDENTITY_HEADER]: forged },
    );
    const header = body.data?.['receivedIdentityHeader'];
    assert.equal(typeof header, 'string');
    assert.notEqual(header, forged);
    assert.deepEqual(await verifyIdentity(key, String(header)), { subject: token.body['subject'], role: 'voter' });
    assert.deepEqual(body.data?.['viewer'], { subject: token.body['subject'], role: 'voter' });
  });

  it('signs the identity once per request and reuses it for every fetch of the plan', async () => {
    const token = await requestToken(gateway.url);
    const seenByProducts = products.received.length;
    const seenByReviews = reviews.received.length;
    // Two fetches: the root fields from products, then the `reviews` entities from reviews.
    const { body } = await gateway.graphql({ query: '{ topProducts(first: 1) { reviews { stars } } }' }, bearer(token.body['token']));
    assert.equal(body.errors, undefined);
    const sent = [...products.received.slice(seenByProducts), ...reviews.received.slice(seenByReviews)].map((headers) => headers[IDENTITY_HEADER]);
    assert.equal(sent.length, 2);
    assert.equal(typeof sent[0], 'string');
    assert.equal(sent[0], sent[1], 'one signed identity per client request');
  });
});
