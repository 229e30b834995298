// The admission every GraphQL operation passes before it runs, whichever transport brought it:
// HTTP GET/POST, a graphql-ws `subscribe`, an SSE or multipart stream. It lives here, once, because
// it used to live in the HTTP adapter only: a query or mutation sent over a socket or stream ran
// with no AUTH_REQUIRED_FOR_GRAPH check and never touched the rate limit.
import { VotemeshError } from '@votemesh/common/errors';
import type { Identity } from '@votemesh/common/contracts/identity';
import type { RateLimiter } from './rate-limit.ts';

export interface OperationGuardOptions {
  readonly rateLimiter: RateLimiter;
  /** Refuse anonymous callers outright (AUTH_REQUIRED_FOR_GRAPH). */
  readonly requireIdentity: boolean;
}

export type Admission =
  | { readonly admitted: true }
  /** `headers`: what an HTTP response carries with the refusal (retry-after, ratelimit-*). */
  | { readonly admitted: false; readonly error: VotemeshError; readonly headers: Readonly<Record<string, string>> };

export interface OperationGuard {
  /**
   * Admits one operation of `identity` (undefined: anonymous), counted against `clientKey`
   * (http/client.ts `clientKey`, so every transport shares the caller's one bucket).
   */
  admit(identity: Identity | undefined, clientKey: string): Promise<Admission>;
}

/** The refusal for an anonymous caller when the graph needs a token (HTTP, streams and sockets alike). */
export function identityRequiredError(): VotemeshError {
  return new VotemeshError('UNAUTHENTICATED', 'This gateway requires a bearer token for every request (AUTH_REQUIRED_FOR_GRAPH)');
}

export function createOperationGuard(options: OperationGuardOptions): OperationGuard {
  return {
    async admit(identity, clientKey) {
      // Identity first: an anonymous caller refused anyway must not use up its address's budget.
      if (!identity && options.requireIdentity) return { admitted: false, error: identityRequiredError(), headers: {} };
      const decision = await options.rateLimiter.consume(clientKey);
      if (decision.allowed) return { admitted: true };
      const error = new VotemeshError(
        'RATE_LIMITED',
        `Rate limit of ${decision.limit} requests per minute exceeded; retry in ${decision.retryAfterSeconds} s`,
        { details: { retryAfterSeconds: decision.retryAfterSeconds } },
      );
      const headers = { 'retry-after': String(decision.retryAfterSeconds), 'ratelimit-limit': String(decision.limit), 'ratelimit-remaining': '0' };
      return { admitted: false, error, headers };
    },
  };
}
