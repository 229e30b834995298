// The GraphQL context of the result subgraph, for HTTP requests and graphql-ws subscriptions alike:
// the forwarded identity (if it verifies), a per-request results loader, and the live results hub.
import { verifyIdentity, type Identity } from '@votemesh/common/contracts/identity';
import type { LiveResults } from './live-results.ts';
import type { PushedEventSlot } from './push-telemetry.ts';
import type { ResultsLoader } from './results-loader.ts';

export interface ResultContext {
  readonly identity?: Identity;
  readonly results: ResultsLoader;
  readonly live: LiveResults;
  /** Per subscription: the event being pushed, for its span and extensions (push-telemetry.ts). */
  readonly pushed: PushedEventSlot;
}

/**
 * Verifies a forwarded identity token. No token or one that does not verify means no identity: the
 * result graph is public, and operations that need an identity refuse on their own.
 */
export async function readIdentity(key: Uint8Array, token: unknown): Promise<Identity | undefined> {
  if (typeof token !== 'string' || token === '') return undefined;
  try {
    return await verifyIdentity(key, token);
  } catch {
    return undefined;
  }
}
