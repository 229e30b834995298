import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, RECEIPT_TTL_SECONDS, SHUTDOWN_TIMEOUT_MS } from '@votemesh/common/config';
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
      // GRPC_SHUTDOWN_MS must also leave the fuse (at most a day) time for a blocking read and the
      // audit client's close (2 s).
      const longest = variable === 'GRPC_SHUTDOWN_MS' ? '86397998' : '86400000';
      assert.doesNotThrow(() => loadConfig({ [variable]: longest, SHUTDOWN_TIMEOUT_MS: '86400000', BLOCK_MS: '1' }, context));
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

describe('worker configuration: shutdown', () => {
  // The fuse was BLOCK_MS + GRPC_SHUTDOWN_MS + 15 s here, whatever SHUTDOWN_TIMEOUT_MS said.
  it('reads SHUTDOWN_TIMEOUT_MS as every process does', () => {
    assert.equal(loadConfig({}, context).shutdownTimeoutMs, SHUTDOWN_TIMEOUT_MS.default);
    assert.equal(loadConfig({ SHUTDOWN_TIMEOUT_MS: '30000' }, context).shutdownTimeoutMs, 30_000);
  });

  it("refuses a fuse the drain delay, the gRPC grace, a blocking read and the audit client's close would use up, naming SHUTDOWN_TIMEOUT_MS", () => {
    assert.doesNotThrow(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '8001' }, context));
    const refusesFuse = (env: Record<string, string>, message: RegExp) =>
      assert.throws(
        () => loadConfig(env, context),
        (error: unknown) => error instanceof ConfigError && error.variable === 'SHUTDOWN_TIMEOUT_MS' && message.test(error.message),
      );
    refusesFuse({ SHUTDOWN_TIMEOUT_MS: '8000' }, /\(0 \+ 5000 \+ 1000 \+ 2000 = 8000\).*got 8000$/);
    refusesFuse(
      { GRPC_SHUTDOWN_MS: '20000' },
      /must be more than SHUTDOWN_DRAIN_MS \+ GRPC_SHUTDOWN_MS \+ BLOCK_MS \+ the audit client's close \(0 \+ 20000 \+ 1000 \+ 2000 = 23000\).*got 10000$/,
    );
  });
});

describe('worker configuration: RECEIPT_TTL_SECONDS', () => {
  // It took 1 here and 60 in the vote subgraph, though the two write the same receipts.
  it('takes the range and default the vote subgraph takes', () => {
    assert.equal(loadConfig({}, context).consumer.receiptTtlSeconds, RECEIPT_TTL_SECONDS.default);
    assert.equal(loadConfig({ RECEIPT_TTL_SECONDS: '60' }, context).consumer.receiptTtlSeconds, 60);
    assert.throws(() => loadConfig({ RECEIPT_TTL_SECONDS: '59' }, context), /RECEIPT_TTL_SECONDS must be at least 60/);
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
