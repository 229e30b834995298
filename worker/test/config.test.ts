import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@votemesh/common/config';
import { loadConfig } from '../src/config.ts';

const context = { pid: 42, isTty: false };

describe('worker configuration: batching', () => {
  it('spaces partial batches 25 ms apart by default, and takes BATCH_INTERVAL_MS (0 included)', () => {
    assert.equal(loadConfig({}, context).consumer.batchIntervalMs, 25);
    assert.equal(loadConfig({ BATCH_INTERVAL_MS: '0' }, context).consumer.batchIntervalMs, 0);
    assert.equal(loadConfig({ BATCH_INTERVAL_MS: '100' }, context).consumer.batchIntervalMs, 100);
  });

  for (const [value, problem] of [
    ['soon', /BATCH_INTERVAL_MS must be a whole number/],
    ['-1', /BATCH_INTERVAL_MS must be at least 0/],
    ['1001', /BATCH_INTERVAL_MS must be at most 1000/],
  ] as const) {
    it(`refuses BATCH_INTERVAL_MS=${value}`, () => {
      assert.throws(() => loadConfig({ BATCH_INTERVAL_MS: value }, context), problem);
    });
  }

  it('refuses the replaced BATCH_LINGER_MS instead of silently ignoring a tuned value', () => {
    assert.throws(
      () => loadConfig({ BATCH_LINGER_MS: '5' }, context),
      (error: unknown) => error instanceof ConfigError && error.variable === 'BATCH_LINGER_MS' && /BATCH_INTERVAL_MS replaces it/.test(error.message),
    );
  });
});

describe('worker configuration: peers', () => {
  it('takes AUDIT_GRPC_URL as host:port, with or without the dns: scheme', () => {
    assert.equal(loadConfig({}, context).auditGrpcUrl, '127.0.0.1:50052');
    assert.equal(loadConfig({ AUDIT_GRPC_URL: 'audit.votemesh.svc:50052' }, context).auditGrpcUrl, 'audit.votemesh.svc:50052');
    assert.equal(loadConfig({ AUDIT_GRPC_URL: 'dns:///audit:50052' }, context).auditGrpcUrl, 'dns:///audit:50052');
    assert.equal(loadConfig({ AUDIT_GRPC_URL: '[::1]:50052' }, context).auditGrpcUrl, '[::1]:50052');
  });

  // A URL with a scheme or path would make every audit send fail at runtime, far from the cause.
  for (const value of ['http://audit:50052', 'audit', 'audit:50052/ingest', 'audit:0', 'audit:99999', '::1:50052']) {
    it(`refuses AUDIT_GRPC_URL=${value} at startup, naming the variable`, () => {
      assert.throws(
        () => loadConfig({ AUDIT_GRPC_URL: value }, context),
        (error: unknown) => error instanceof ConfigError && error.variable === 'AUDIT_GRPC_URL' && /must be host:port/.test(error.message),
      );
    });
  }
});

describe('worker configuration: timers', () => {
  // Above 2^31 - 1 ms setTimeout/setInterval fire after 1 ms: a claim loop or shutdown fuse that spins.
  for (const variable of ['CLAIM_INTERVAL_MS', 'GRPC_SHUTDOWN_MS']) {
    it(`refuses ${variable} beyond a day, naming it`, () => {
      assert.doesNotThrow(() => loadConfig({ [variable]: '86400000' }, context));
      assert.throws(
        () => loadConfig({ [variable]: '3000000000' }, context),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && /must be at most 86400000/.test(error.message),
      );
    });
  }
});

describe('worker configuration: deleting consumers that are gone', () => {
  it('deletes them after 10 minutes idle by default and takes CONSUMER_DELETE_IDLE_MS', () => {
    assert.equal(loadConfig({}, context).consumer.consumerDeleteIdleMs, 600_000);
    assert.equal(loadConfig({ CONSUMER_DELETE_IDLE_MS: '5000' }, context).consumer.consumerDeleteIdleMs, 5000);
  });

  it('refuses a bound not above BLOCK_MS: a reader parked in XREADGROUP BLOCK counts as idle', () => {
    assert.throws(
      () => loadConfig({ CONSUMER_DELETE_IDLE_MS: '5000', BLOCK_MS: '5000' }, context),
      (error: unknown) => error instanceof ConfigError && error.variable === 'CONSUMER_DELETE_IDLE_MS' && /greater than BLOCK_MS/.test(error.message),
    );
  });
});

describe('worker configuration: ranges', () => {
  // Both used to take any whole number: a receipt TTL past what Redis's EXPIRE takes, a claim
  // threshold that never comes.
  for (const [variable, max] of [
    ['RECEIPT_TTL_SECONDS', 31_536_000],
    ['CLAIM_IDLE_MS', 86_400_000],
  ] as const) {
    for (const value of ['1e20', '100000000000000000000', String(max + 1)]) {
      it(`refuses ${variable}=${value}, naming the allowed range`, () => {
        assert.throws(
          () => loadConfig({ [variable]: value }, context),
          (error: unknown) => error instanceof ConfigError && error.variable === variable && error.message.includes(`to ${max})`),
        );
      });
    }
    it(`takes ${variable}=${max}`, () => {
      assert.doesNotThrow(() => loadConfig({ [variable]: String(max) }, context));
    });
  }
});
