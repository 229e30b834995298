// Starts the real gateway (startGateway) on port 0 with a test configuration built through
// loadConfig, so tests exercise the same parsing and defaults as production. Logs are collected
// in memory: tests can assert on what was logged (e.g. the unmasked internal error).
import { createMetricsRegistry } from '@votemesh/common/metrics';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { loadConfig } from '../../src/config.ts';
import { startGateway, type GatewayDeps, type RunningGateway } from '../../src/server.ts';
import { TEST_IDENTITY_SECRET } from './test-subgraphs.ts';
import { captureLogs } from '@votemesh/common/testing/log-capture';

export interface TestGateway extends RunningGateway {
  readonly logs: Record<string, unknown>[];
  /** POSTs a GraphQL operation; returns status, headers and the parsed body. */
  graphql(body: { query: string; variables?: Record<string, unknown>; operationName?: string }, headers?: Record<string, string>): Promise<GraphQLHttpResult>;
}

export interface GraphQLHttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  };
}

export async function startTestGateway(
  supergraphSdl: string,
  env: Record<string, string> = {},
  deps: Partial<Pick<GatewayDeps, 'rateLimitCounter' | 'subscriptions' | 'dependencyChecks'>> = {},
): Promise<TestGateway> {
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', IDENTITY_SECRET: TEST_IDENTITY_SECRET, LOG_LEVEL: 'debug', ...env });
  const { logger, lines: logs } = captureLogs('gateway-test', config.logLevel);
  const gateway = await startGateway({ config, logger, registry: createMetricsRegistry('gateway-test'), supergraphSdl, ...deps });
  return {
    ...gateway,
    logs,
    async graphql(body, headers = {}) {
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLHttpResult['body'] };
    },
  };
}

/** POST /auth/token on the gateway's dev issuer. */
export async function requestToken(gatewayUrl: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gatewayUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export function bearer(token: unknown): Record<string, string> {
  if (typeof token !== 'string') throw new Error(`expected a token string, got ${JSON.stringify(token)}`);
  return { authorization: `Bearer ${token}` };
}

/**
 * Rate limits count in fixed windows aligned to the minute (limits/rate-limit.ts), so a test that
 * fills a window and expects the next request refused must not straddle two windows. Waits, at most
 * `needMs`, until at least `needMs` of the current window remain.
 */
export async function withinOneRateWindow(needMs = 10_000): Promise<void> {
  await waitFor(() => 60_000 - (Date.now() % 60_000) >= needMs, {
    what: 'a rate-limit window with room for the test',
    timeoutMs: needMs + 2000,
    intervalMs: 50,
  });
}
