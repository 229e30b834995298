// Reads the identity the gateway forwarded: the `x-votemesh-identity` header on HTTP, the
// `identity` field of graphql-ws connection_init params on subscriptions. A missing or invalid
// token means "no identity" (resolvers then answer IDENTITY_MISSING); it is not a transport error.
import { IDENTITY_HEADER, verifyIdentity, type Identity } from '@votemesh/common/contracts/identity';
import type { Logger } from '@votemesh/common/logger';
import type { IncomingMessage } from 'node:http';

export type IdentityReader = (token: unknown) => Promise<Identity | undefined>;

export function createIdentityReader(key: Uint8Array, logger: Logger): IdentityReader {
  return async (token) => {
    if (typeof token !== 'string' || token === '') return undefined;
    try {
      return await verifyIdentity(key, token);
    } catch (error) {
      logger.debug({ reason: error instanceof Error ? error.message : String(error) }, 'ignoring a forwarded identity that does not verify');
      return undefined;
    }
  };
}

export function identityHeader(req: IncomingMessage): string | undefined {
  const value = req.headers[IDENTITY_HEADER];
  return Array.isArray(value) ? value[0] : value;
}
