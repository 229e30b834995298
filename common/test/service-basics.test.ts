// readServiceBasics: the settings every votemesh process shares refuse what they cannot honour.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, readInt, readServiceBasics } from '../src/config.ts';

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

describe('readInt', () => {
  const range = { min: 1, max: 86_400 };
  // "1e20" and a 21-digit number both used to pass for settings with no maximum.
  for (const value of ['1e20', '100000000000000000000', '86401', '0', '-3', '1.5', '0x10', 'ten']) {
    it(`refuses ${value}, naming the variable and the allowed range`, () => {
      assert.throws(
        () => readInt({ RECEIPT_TTL_SECONDS: value }, 'RECEIPT_TTL_SECONDS', 60, range),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === 'RECEIPT_TTL_SECONDS' &&
          error.message.includes(`got ${/^-?\d+$/.test(value) ? value : `"${value}"`}`) &&
          error.message.endsWith('(allowed: 1 to 86400)'),
      );
    });
  }

  it('takes both ends of the range, and the default when unset or blank', () => {
    assert.equal(readInt({ X: '1' }, 'X', 60, range), 1);
    assert.equal(readInt({ X: '86400' }, 'X', 60, range), 86_400);
    assert.equal(readInt({ X: ' ' }, 'X', 60, range), 60);
    assert.equal(readInt({}, 'X', 60, range), 60);
  });
});
