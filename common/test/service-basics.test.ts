// readServiceBasics: the settings every votemesh process shares refuse what they cannot honour.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConfigError,
  RECEIPT_TTL_SECONDS,
  readInt,
  readReceiptTtlSeconds,
  readServiceBasics,
  readShutdownTimeoutMs,
  SHUTDOWN_TIMEOUT_MS,
} from '../src/config.ts';

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

// One definition each, read by every process that has the setting (gateway/vote/result/audit/worker
// for the fuse; vote and worker for the receipt TTL, which must agree): the process config tests
// check that each reads it through these.
describe('settings shared by several processes', () => {
  it('SHUTDOWN_TIMEOUT_MS: 10000 by default, 100 to a day', () => {
    assert.deepEqual({ ...SHUTDOWN_TIMEOUT_MS }, { default: 10_000, min: 100, max: 86_400_000 });
    assert.equal(readShutdownTimeoutMs({}), 10_000);
    assert.equal(readShutdownTimeoutMs({ SHUTDOWN_TIMEOUT_MS: '100' }), 100);
    assert.throws(() => readShutdownTimeoutMs({ SHUTDOWN_TIMEOUT_MS: '99' }), /SHUTDOWN_TIMEOUT_MS must be at least 100, got 99 \(allowed: 100 to 86400000\)/);
  });

  it('SHUTDOWN_TIMEOUT_MS must outlast SHUTDOWN_DRAIN_MS, which the shutdown spends first', () => {
    assert.deepEqual(readServiceBasics({ SHUTDOWN_DRAIN_MS: '5000' }, defaults).drainDelayMs, 5000);
    assert.throws(
      () => readServiceBasics({ SHUTDOWN_DRAIN_MS: '10000' }, defaults),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'SHUTDOWN_TIMEOUT_MS' &&
        /must be more than SHUTDOWN_DRAIN_MS \(10000\), got 10000$/.test(error.message),
    );
  });

  it('RECEIPT_TTL_SECONDS: a day by default, a minute to a year', () => {
    assert.deepEqual({ ...RECEIPT_TTL_SECONDS }, { default: 86_400, min: 60, max: 31_536_000 });
    assert.equal(readReceiptTtlSeconds({}), 86_400);
    assert.equal(readReceiptTtlSeconds({ RECEIPT_TTL_SECONDS: '60' }), 60);
    assert.throws(() => readReceiptTtlSeconds({ RECEIPT_TTL_SECONDS: '59' }), /RECEIPT_TTL_SECONDS must be at least 60, got 59 \(allowed: 60 to 31536000\)/);
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
