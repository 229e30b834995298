// Wires the configured AUTH_MODE into one `authenticate` function:
//   dev  – the built-in issuer (dev-issuer.ts) and a verifier over its own key set;
//   oidc – a verifier over any OIDC issuer's JWKS (AUTH_JWKS_URL, or discovered from AUTH_ISSUER);
//   none – no tokens: every caller is anonymous and a sent token is refused as TOKEN_INVALID, so
//          nobody believes they are authenticated when they are not.
import type { IncomingMessage } from 'node:http';
import { VotemeshError } from '@votemesh/common/errors';
import type { AuthConfig } from '../config.ts';
import { createDevIssuer, type DevIssuer } from './dev-issuer.ts';
import { bearerToken, createTokenVerifier, type VerifiedIdentity } from './verify-token.ts';

export interface Authentication {
  readonly devIssuer: DevIssuer | undefined;
  authenticate(token: string | undefined): Promise<VerifiedIdentity | undefined>;
  authenticateRequest(req: IncomingMessage): Promise<VerifiedIdentity | undefined>;
}

export async function createAuthentication(config: AuthConfig): Promise<Authentication> {
  let devIssuer: DevIssuer | undefined;
  let authenticate: (token: string | undefined) => Promise<VerifiedIdentity | undefined>;
  switch (config.mode) {
    case 'dev': {
      devIssuer = await createDevIssuer({
        issuer: config.issuer,
        audience: config.audience,
        tokenTtlSeconds: config.tokenTtlSeconds,
        ...(config.devIssuerPrivateJwk === undefined ? {} : { privateJwk: config.devIssuerPrivateJwk }),
        ...(config.adminBootstrapSecret === undefined ? {} : { adminBootstrapSecret: config.adminBootstrapSecret }),
      });
      const verifier = createTokenVerifier({
        issuer: config.issuer,
        audience: config.audience,
        jwks: devIssuer.jwks,
        clockToleranceSeconds: config.clockToleranceSeconds,
      });
      authenticate = (token) => verifier.verify(token);
      break;
    }
    case 'oidc': {
      const verifier = createTokenVerifier({
        issuer: config.issuer,
        audience: config.audience,
        ...(config.jwksUrl === undefined ? {} : { jwksUrl: config.jwksUrl }),
        clockToleranceSeconds: config.clockToleranceSeconds,
      });
      authenticate = (token) => verifier.verify(token);
      break;
    }
    case 'none':
      authenticate = async (token) => {
        if (token === undefined) return undefined;
        throw new VotemeshError('TOKEN_INVALID', 'This gateway runs without authentication (AUTH_MODE=none) and accepts no bearer tokens');
      };
      break;
    default: {
      const unknown: never = config.mode;
      throw new Error(`Unknown AUTH_MODE ${String(unknown)}`);
    }
  }
  return {
    devIssuer,
    authenticate,
    async authenticateRequest(req) {
      const header = req.headers.authorization;
      return authenticate(bearerToken(header));
    },
  };
}
