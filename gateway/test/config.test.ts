// The gateway's configuration refuses what it cannot honour, naming the variable: timers beyond a
// day (setTimeout fires after 1 ms above 2^31 - 1 ms: an instant upstream timeout, an init-timeout
// close or a ping storm) and log levels pino does not have.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, SHUTDOWN_TIMEOUT_MS } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';

const refuses = (env: Record<string, string>, variable: string, problem: RegExp): void => {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => error instanceof ConfigError && error.variable === variable && problem.test(error.message),
  );
};

describe('gateway configuration: timers', () => {
  for (const variable of ['UPSTREAM_TIMEOUT_MS', 'WS_INIT_TIMEOUT_MS', 'SUBSCRIPTION_KEEPALIVE_MS', 'UPSTREAM_RECONNECT_WINDOW_MS']) {
    it(`takes ${variable} up to a day and refuses more (setTimeout's 2^31 - 1 ms limit)`, () => {
      const config = loadConfig({ [variable]: '86400000' });
      const read = {
        UPSTREAM_TIMEOUT_MS: config.upstreamTimeoutMs,
        WS_INIT_TIMEOUT_MS: config.subscriptionLimits.connectionInitTimeoutMs,
        SUBSCRIPTION_KEEPALIVE_MS: config.subscriptionLimits.keepAliveMs,
        UPSTREAM_RECONNECT_WINDOW_MS: config.subscriptionLimits.upstreamReconnectWindowMs,
      }[variable];
      assert.equal(read, 86_400_000);
      refuses({ [variable]: '86400001' }, variable, /must be at most 86400000/);
      refuses({ [variable]: '3000000000' }, variable, /must be at most 86400000/);
    });
  }
});

describe('gateway configuration: LOG_LEVEL', () => {
  it('takes the pino levels, info by default', () => {
    assert.equal(loadConfig({}).logLevel, 'info');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) assert.equal(loadConfig({ LOG_LEVEL: level }).logLevel, level);
  });

  it('refuses another value at startup, naming the variable', () => {
    refuses({ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /LOG_LEVEL must be one of/);
  });
});

describe('gateway configuration: METRICS_CLIENT_NAMES', () => {
  it('is empty by default and takes a comma-separated list, trimmed and deduplicated', () => {
    assert.deepEqual(loadConfig({}).metricsClientNames, []);
    assert.deepEqual(loadConfig({ METRICS_CLIENT_NAMES: ' web, ios ,web,,android-tv ' }).metricsClientNames, ['web', 'ios', 'android-tv']);
  });

  it('refuses names that are not plain tokens and lists too long to be a label', () => {
    refuses({ METRICS_CLIENT_NAMES: 'web,my app' }, 'METRICS_CLIENT_NAMES', /got "my app"/);
    refuses({ METRICS_CLIENT_NAMES: Array.from({ length: 51 }, (_, i) => `c${i}`).join(',') }, 'METRICS_CLIENT_NAMES', /at most 50 names/);
  });
});

describe('gateway configuration: SHUTDOWN_TIMEOUT_MS', () => {
  // It used to be a fixed 10 s here while every subgraph read the variable.
  it('reads the shutdown fuse as every process does', () => {
    assert.equal(loadConfig({}).shutdownTimeoutMs, SHUTDOWN_TIMEOUT_MS.default);
    assert.equal(loadConfig({ SHUTDOWN_TIMEOUT_MS: '25000' }).shutdownTimeoutMs, 25_000);
    refuses({ SHUTDOWN_TIMEOUT_MS: '50' }, 'SHUTDOWN_TIMEOUT_MS', /must be at least 100, got 50 \(allowed: 100 to 86400000\)/);
  });
});
