// readServiceBasics: the settings every votemesh process shares refuse what they cannot honour.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, readServiceBasics } from '../src/config.ts';

const defaults = { port: 4001, stdoutIsTty: false };

describe('readServiceBasics', () => {
  it('refuses SHUTDOWN_TIMEOUT_MS beyond a day (the shutdown fuse would fire after 1 ms)', () => {
    assert.equal(readServiceBasics({ SHUTDOWN_TIMEOUT_MS: '86400000' }, defaults).shutdownTimeoutMs, 86_400_000);
    assert.throws(
      () => readServiceBasics({ SHUTDOWN_TIMEOUT_MS: '3000000000' }, defaults),
      (error: unknown) => error instanceof ConfigError && error.variable === 'SHUTDOWN_TIMEOUT_MS' && /must be at most 86400000/.test(error.message),
    );
  });

  it('refuses a LOG_LEVEL pino does not have, naming it', () => {
    assert.throws(
      () => readServiceBasics({ LOG_LEVEL: 'verbose' }, defaults),
      (error: unknown) => error instanceof ConfigError && error.variable === 'LOG_LEVEL',
    );
  });
});
