// The e2e harness itself: how it picks ports and how it reports a process that cannot start.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startProcess } from '../src/child-process.ts';
import { freePort } from '@votemesh/common/testing/free-port';

describe('e2e harness', () => {
  it('picks distinct ports below the kernel ephemeral range (outgoing connections cannot take them)', async () => {
    const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
    for (const port of ports) assert.ok(port >= 10_000 && port < ephemeralStart, `port ${port} is outside [10000, ${ephemeralStart})`);
  });

  it('fails as soon as a process exits before it is ready, with the exit code and its own words', async () => {
    const port = await freePort();
    // A worker refuses a bad setting at startup (exit code 1), so it never answers /readyz.
    const starting = startProcess({
      name: 'worker',
      entry: 'worker/src/main.ts',
      env: { PORT: String(port), BATCH_INTERVAL_MS: 'soon' },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
      // Far longer than the test may take: only the exit can end the wait in time.
      readyTimeoutMs: 600_000,
    });
    await assert.rejects(starting, (error: Error) => {
      assert.match(error.message, /^worker exited before it was ready \(exit code 1\)/);
      assert.match(error.message, /BATCH_INTERVAL_MS must be a whole number/);
      return true;
    });
  });
});
