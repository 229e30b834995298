// The vote subgraph writes PENDING receipts and the worker their final status: both read
// RECEIPT_TTL_SECONDS through common's one definition, so the two cannot disagree on its range.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, RECEIPT_TTL_SECONDS, SHUTDOWN_TIMEOUT_MS } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';

describe('vote configuration', () => {
  it('reads RECEIPT_TTL_SECONDS with the shared default and range', () => {
    assert.equal(loadConfig({}).receiptTtlSeconds, RECEIPT_TTL_SECONDS.default);
    assert.equal(loadConfig({ RECEIPT_TTL_SECONDS: String(RECEIPT_TTL_SECONDS.min) }).receiptTtlSeconds, RECEIPT_TTL_SECONDS.min);
    assert.throws(
      () => loadConfig({ RECEIPT_TTL_SECONDS: String(RECEIPT_TTL_SECONDS.max + 1) }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'RECEIPT_TTL_SECONDS' && error.message.endsWith('(allowed: 60 to 31536000)'),
    );
  });

  it('reads SHUTDOWN_TIMEOUT_MS with the shared default', () => {
    assert.equal(loadConfig({}).shutdownTimeoutMs, SHUTDOWN_TIMEOUT_MS.default);
  });
});
