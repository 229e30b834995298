// `www-authenticate: Bearer` goes with every 401 and with nothing else, whichever path answers
// (http/challenge.ts). The subscription streams used to add it to any error from token
// verification, so an issuer outage (503 UPSTREAM_UNAVAILABLE) over SSE asked the client for a
// token, while the same outage over /graphql did not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VotemeshError } from '@votemesh/common/errors';
import { startHarness } from './fixtures/subscriptions/harness.ts';

const TICKS = 'subscription { ticks(room: "challenge") { n } }';

/** Opens an SSE stream with `token`; resolves with the refusal's status, challenge and code. */
async function refusal(url: string, token: string): Promise<{ status: number; challenge: string | null; code: unknown }> {
  const response = await fetch(`${url}?${new URLSearchParams({ query: TICKS })}`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { errors: { extensions: { code: unknown } }[] };
  return { status: response.status, challenge: response.headers.get('www-authenticate'), code: body.errors[0]?.extensions.code };
}

describe('the authentication challenge on the subscription streams', () => {
  it('goes with a 401 for a bad token', async () => {
    await using harness = await startHarness();
    const expired = await harness.token({ subject: 'dave', role: 'voter' }, { expiresInSeconds: -60 });
    assert.deepEqual(await refusal(harness.url, expired), { status: 401, challenge: 'Bearer', code: 'TOKEN_EXPIRED' });
  });

  it('stays off a 503 when the issuer keys cannot be fetched', async () => {
    // What the verifier throws when its JWKS is unreachable (auth/verify-token.ts).
    const outage = async (): Promise<void> => {
      throw new VotemeshError('UPSTREAM_UNAVAILABLE', 'The token issuer keys (JWKS) could not be fetched; retry later');
    };
    await using harness = await startHarness({ beforeAuthenticate: outage });
    const token = await harness.token({ subject: 'erin', role: 'voter' });
    assert.deepEqual(await refusal(harness.url, token), { status: 503, challenge: null, code: 'UPSTREAM_UNAVAILABLE' });
  });
});
