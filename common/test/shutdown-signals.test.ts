// The shutdown stack and the signal handling every main.ts uses, in a real child process: the exit
// code says whether the drain completed, a repeated SIGTERM does not cut it, a second SIGINT does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { waitFor } from '../src/testing/wait-for.ts';

const fixture = fileURLToPath(new URL('./fixtures/shutdown-child.ts', import.meta.url));

interface LogLine {
  readonly msg: string;
  readonly [key: string]: unknown;
}

function startChild(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: LogLine[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as LogLine));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logged = (msg: string | RegExp) =>
    waitFor(() => lines.find((line) => (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg))), { timeoutMs: 15_000, what: `log "${msg}"` });
  return { child, lines, exited, logged };
}

describe('handleTerminationSignals', () => {
  it('exits 0 after the drain completes, and a second SIGTERM does not cut it short', async () => {
    const { child, lines, exited, logged } = startChild();
    await logged('ready');
    child.kill('SIGTERM');
    await logged('draining');
    child.kill('SIGTERM');
    await logged(/SIGTERM during shutdown ignored/);
    assert.equal(child.exitCode, null, 'still draining after the second SIGTERM');
    child.stdin.write('release\n');
    assert.equal(await exited, 0);
    assert.deepEqual(
      lines.filter((line) => line['step'] !== undefined).map((line) => `${String(line['step'])} ${line.msg}`),
      ['drain draining', 'drain drained', 'database closed', 'stdin closed'],
    );
  });

  it('stays alive while a step waits on something that holds no handle, and exits 0 when it ends', async () => {
    const { child, lines, exited, logged } = startChild({ DRAIN_HOLDS_NO_HANDLE: '1' });
    await logged('ready');
    child.kill('SIGTERM');
    await logged('draining');
    // Nothing but the shutdown fuse keeps the event loop alive now: an unref'd fuse let Node exit 0 here.
    child.stdin.write('release\n');
    assert.equal(await exited, 0);
    assert.ok(lines.some((line) => line.msg === 'drained'));
  });

  it('exits 1 at the deadline when a step waiting on nothing that holds a handle never ends', async () => {
    const { child, lines, exited, logged } = startChild({ DRAIN_HOLDS_NO_HANDLE: '1', SHUTDOWN_TIMEOUT_MS: '300' });
    await logged('ready');
    child.kill('SIGTERM');
    assert.equal(await exited, 1);
    assert.ok(!lines.some((line) => line.msg === 'drained'));
    assert.deepEqual(lines.find((line) => /shutdown timed out/.test(line.msg))?.['open'], ['drain', 'database', 'stdin']);
  });

  it('exits 1 when a step fails, after logging it and running the steps after it', async () => {
    const { child, lines, exited, logged } = startChild({ FAIL_STEP: 'database' });
    await logged('ready');
    child.kill('SIGTERM');
    await logged('draining');
    child.stdin.write('release\n');
    assert.equal(await exited, 1);
    const failure = lines.find((line) => line.msg === 'shutdown step "database" failed: database could not close');
    assert.equal(failure?.['step'], 'database');
    assert.ok(
      lines.some((line) => line['step'] === 'stdin' && line.msg === 'closed'),
      'the steps after the failed one still ran',
    );
    assert.deepEqual(lines.find((line) => /^shutdown finished with/.test(line.msg))?.['failed'], ['database']);
  });

  it('exits at once with 130 on a second SIGINT, saying so', async () => {
    const { child, lines, exited, logged } = startChild();
    await logged('ready');
    child.kill('SIGINT');
    await logged('draining');
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.ok(lines.some((line) => /second SIGINT/.test(line.msg)));
    assert.ok(!lines.some((line) => line.msg === 'drained'));
  });

  it('exits 1 when the shutdown deadline passes, naming the steps still open', async () => {
    const { child, lines, exited, logged } = startChild({ SHUTDOWN_TIMEOUT_MS: '300' });
    await logged('ready');
    child.kill('SIGTERM');
    assert.equal(await exited, 1);
    const timedOut = lines.find((line) => /shutdown timed out/.test(line.msg));
    assert.deepEqual(timedOut?.['open'], ['drain', 'database', 'stdin']);
    assert.equal(timedOut?.['timeoutMs'], 300);
  });
});
