// The audit process (main.ts, as Kubernetes runs it) starts while Redis is unreachable instead of
// exiting: it is ready at once (ingest and queries need only PostgreSQL), reports Redis down in
// /readyz and votemesh_dependency_up, and once Redis appears the live feed works too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { identitySecretKey, signIdentity } from '@votemesh/common/contracts/identity';
import { createTestDatabase, type TestDatabase } from '@votemesh/common/testing/database';
import { startSwitchableRelay, type SwitchableRelay } from '@votemesh/common/testing/switchable-relay';
import { testRedisPrefix } from '@votemesh/common/testing/redis';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createClient, type Client } from 'graphql-ws';
import { WebSocket } from 'ws';
import { ADMIN, createIngestClient, makeEvent, recordOn, REDIS_URL, SECRET, type IngestClient } from './harness.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Readiness {
  readonly status: string;
  readonly checks: { name: string; ok: boolean }[];
  readonly dependencies: { name: string; ok: boolean; error?: string }[];
}

describe('audit subgraph with Redis unreachable at start', () => {
  let db: TestDatabase;
  let relay: SwitchableRelay;
  let child: ChildProcess;
  let exited: Promise<number | null>;
  const logs: Record<string, unknown>[] = [];
  let url: string;
  let ingest: IngestClient;
  let ws: Client | undefined;

  before(async () => {
    db = await createTestDatabase();
    relay = await startSwitchableRelay(new URL(REDIS_URL).host || '127.0.0.1:6379');
    child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOST: '127.0.0.1',
        PORT: '0',
        GRPC_PORT: '0',
        LOG_FORMAT: 'json',
        DATABASE_URL: db.url,
        REDIS_URL: `redis://${relay.address}`,
        REDIS_PREFIX: testRedisPrefix(),
        IDENTITY_SECRET: SECRET,
        AUDIT_APPEND_MAX_DELAY_MS: '5',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line });
        }
      });
    }
    const listening = await waitFor(() => logs.find((line) => line['msg'] === 'listening' && typeof line['grpcAddress'] === 'string'), {
      timeoutMs: 30_000,
      what: `the audit process to listen (logs: ${JSON.stringify(logs.slice(-5))})`,
    });
    url = String(listening['url']).replace(/\/graphql$/, '');
    ingest = createIngestClient(String(listening['grpcAddress']));
  });
  after(async () => {
    await ws?.dispose();
    ingest?.close();
    child?.kill('SIGTERM');
    await exited;
    await relay?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
  });

  async function readyz(): Promise<{ status: number; body: Readiness }> {
    const response = await fetch(`${url}/readyz`);
    return { status: response.status, body: (await response.json()) as Readiness };
  }

  async function auditLogCount(pollId: string): Promise<number> {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-votemesh-identity': await signIdentity(identitySecretKey(SECRET), ADMIN) },
      body: JSON.stringify({ query: 'query ($p: ID!) { auditLog(filter: { pollId: $p }) { edges { node { eventId } } } }', variables: { p: pollId } }),
    });
    const body = (await response.json()) as { data?: { auditLog: { edges: unknown[] } }; errors?: unknown };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data?.auditLog.edges.length ?? -1;
  }

  it('starts, is ready, ingests and answers queries while Redis is down, reporting Redis', async () => {
    const { status, body } = await readyz();
    assert.equal(status, 200);
    assert.deepEqual(
      body.checks.map((check) => [check.name, check.ok]),
      [
        ['postgres', true],
        ['grpc', true],
      ],
    );
    assert.deepEqual(
      body.dependencies.map((dependency) => [dependency.name, dependency.ok]),
      [['redis', false]],
    );
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^votemesh_dependency_up\{dependency="redis",required="false",[^}]*\} 0$/m);
    assert.ok(
      logs.some((line) => line['msg'] === 'redis unavailable at start; serving without it and reconnecting in the background'),
      'the outage is logged',
    );

    const pollId = crypto.randomUUID();
    const summary = await recordOn(ingest, [makeEvent({ poll_id: pollId }), makeEvent({ poll_id: pollId })]);
    assert.equal(Number(summary.accepted), 2);
    assert.equal(await auditLogCount(pollId), 2);
    assert.equal(child.exitCode, null, 'still running');
  });

  it('reconnects when Redis appears: the dependency turns up and the live feed pushes new events', async () => {
    relay.up();
    await waitFor(async () => (await readyz()).body.dependencies.every((dependency) => dependency.ok), { timeoutMs: 15_000, what: 'redis reported up' });
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^votemesh_dependency_up\{dependency="redis",required="false",[^}]*\} 1$/m);

    const pollId = crypto.randomUUID();
    const received: unknown[] = [];
    ws = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { identity: await signIdentity(identitySecretKey(SECRET), ADMIN) },
      retryAttempts: 0,
    });
    ws.subscribe<{ auditEvents: { eventId: string } }>(
      { query: 'subscription ($p: ID!) { auditEvents(filter: { pollId: $p }) { eventId } }', variables: { p: pollId } },
      { next: (result) => void received.push(result), error: (error) => void received.push({ error }), complete: () => undefined },
    );
    await waitFor(async () => /votemesh_audit_feed_subscribers\{[^}]*\} 1\n/.test(await (await fetch(`${url}/metrics`)).text()), {
      what: 'the subscription to be live',
    });
    const event = makeEvent({ poll_id: pollId });
    await recordOn(ingest, [event]);
    await waitFor(() => received.length > 0, { what: 'the live event' });
    assert.deepEqual(received, [{ data: { auditEvents: { eventId: event.event_id } } }]);
  });
});
