// `npm run bench:fanout` (issue 3): N concurrent graphql-ws subscribers to
// `pollResults(pollId) { committedAt … options { votes option { label } } poll { question } }` on ONE
// gateway process, one tally update per second, latency = receipt − committedAt at every subscriber,
// and the gateway's memory per idle connection. Baseline in the same run: a plain graphql-ws server
// executing every subscription on its own (naive-gateway.ts), same N, same updates.
// Flags: --sizes 1000,5000,10000 --updates 10 --clients 2 --skip-baseline false
//        --client raw|ws: the load processes' WebSocket code (raw-ws.ts by default, or the `ws` package)
//        --skip-floor false: the floor (floor-server.ts) — the same frame written to N sockets with nothing
//        in front of it, measured with the same clients: what no server on this machine can beat
//        --profile-dir <dir>: the gateway writes a V8 CPU profile there when it exits (--cpu-prof).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createGraphQLClient } from '../e2e/src/graphql-client.ts';
import { createOpenPoll } from '../e2e/src/scenario.ts';
import { ADMIN_SECRET, startStack } from '../e2e/src/stack.ts';
import { scrapeMetric } from '../e2e/src/subscription-client.ts';
import type { ClientKind } from './src/fanout-client.ts';
import { measureFanout, startClientFleet, startFloorServer, startNaiveServer, type FanoutMeasurement, type FanoutTarget } from './src/fanout-run.ts';
import { findDescendantPid, onInterrupt } from './src/proc.ts';
import { formatNumber, positiveInt, printHeader, readFlags, table, verdict } from './src/report.ts';

const flags = readFlags({
  sizes: '1000,5000,10000',
  updates: '10',
  clients: '2',
  'skip-baseline': 'false',
  'skip-floor': 'false',
  'profile-dir': '',
  client: 'raw',
});
const updates = positiveInt(flags.updates, 'updates');
const clientCount = positiveInt(flags.clients, 'clients');
if (flags.client !== 'raw' && flags.client !== 'ws') throw new Error(`--client must be raw or ws, not ${flags.client}`);
const clientKind: ClientKind = flags.client;
const P99_TARGET_MS = 150;
const MEMORY_TARGET_BYTES = 20 * 1024;
const TARGET_SIZE = 10_000;

await printHeader('bench:fanout — live pollResults to N subscribers on one gateway');

// Each server process holds N sockets (+ upstream, files); each client process N / clients.
const openFiles = Number(/^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
const fdBudget = Number.isFinite(openFiles) ? openFiles - 1000 : Number.POSITIVE_INFINITY;
const requested = flags.sizes.split(',').map((size) => positiveInt(size.trim(), 'sizes'));
const sizes = requested.filter((size) => size <= fdBudget);
console.log(`open files limit (ulimit -n, per process, inherited by every child): ${openFiles}; server processes need ~N + 1,000`);
for (const size of requested.filter((size) => size > fdBudget))
  console.log(`  N=${size} SKIPPED: needs more than ${openFiles} descriptors in one process; raise ulimit -n`);

// Subscribers are authenticated voters: the gateway admits at most 20 connections per client
// (subject, else address), and the dev issuer hands out 60 tokens per minute per address by default
// (TOKEN_RATE_LIMIT_PER_MINUTE). So the gateway gets a known issuer key (DEV_ISSUER_PRIVATE_JWK, as
// replicas would) and the benchmark signs exactly what /auth/token would: ES256, same issuer,
// audience, claims and kid.
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
const maxSize = Math.max(0, ...sizes);
const tokens = await Promise.all(
  Array.from({ length: maxSize }, () =>
    new SignJWT({ role: 'voter' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer('urn:votemesh:dev-issuer')
      .setAudience('votemesh')
      .setSubject(`voter:${randomUUID()}`)
      .setIssuedAt()
      .setExpirationTime('2h')
      .setJti(randomUUID())
      .sign(privateKey),
  ),
);

const profiling = flags['profile-dir'] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${flags['profile-dir']}` } : {};
await using stack = await startStack({ gatewayEnv: { DEV_ISSUER_PRIVATE_JWK: JSON.stringify(await exportJWK(privateKey)), ...profiling } });
const client = createGraphQLClient(stack.gatewayUrl);
const poll = await createOpenPoll(client, await client.adminToken(ADMIN_SECRET), ['Red', 'Green', 'Blue', 'Yellow'], 'Benchmark: which colour?');
const voterTokens = await Promise.all(Array.from({ length: 20 }, () => client.voterToken()));
const fleet = startClientFleet(clientCount);
let naiveRunning: { stop(): Promise<void> } | undefined;
onInterrupt(() => Promise.allSettled([fleet.close(), naiveRunning?.stop(), stack[Symbol.asyncDispose]()]));
console.log(
  `stack up; ${tokens.length} subscriber tokens signed; ${clientCount} client processes (${clientKind} WebSocket client); ${updates} updates per measurement\n`,
);

const subgraphPids = [findDescendantPid('subgraphs/vote/src/main.ts'), findDescendantPid('subgraphs/result/src/main.ts')];
const results: FanoutMeasurement[] = [];
const log = (line: string): void => console.log(`  ${line}`);
try {
  for (const subscribers of sizes) {
    // A fresh gateway per size: its RSS before connecting is not inflated by the previous size.
    await stack.restart('gateway');
    const gateway: FanoutTarget = {
      name: 'gateway (dedup)',
      wsUrl: `${stack.gatewayUrl.replace(/^http/, 'ws')}/graphql`,
      pid: findDescendantPid('gateway/src/main.ts'),
      heapUsedBytes: () => scrapeMetric(stack.gatewayUrl, 'nodejs_heap_size_used_bytes'),
      subscriptions: () => scrapeMetric(stack.gatewayUrl, 'votemesh_gateway_subscriptions'),
    };
    const common = {
      fleet,
      clientKind,
      subgraphPids,
      subscribers,
      tokens,
      poll,
      updates,
      client,
      voterTokens,
      log,
      connectTimeoutMs: 30_000 + subscribers * 3,
    };
    results.push(await measureFanout({ ...common, target: gateway, drainTimeoutMs: 15_000 }));
    if (flags['skip-floor'] !== 'true') {
      const floor = await startFloorServer();
      naiveRunning = floor;
      try {
        const sweeps: number[] = [];
        results.push(
          await measureFanout({
            ...common,
            target: {
              name: 'floor (one frame, N writes)',
              wsUrl: floor.wsUrl,
              pid: floor.pid,
              subscriptions: () => floor.subscribers(),
              update: async (index) => void sweeps.push((await floor.push(index)).sweepMs),
            },
            drainTimeoutMs: 15_000,
          }),
        );
        log(`floor, N=${subscribers}: write loop ${sweeps.map((ms) => ms.toFixed(0)).join(', ')} ms per update`);
      } finally {
        await floor.stop();
        naiveRunning = undefined;
      }
    }
    if (flags['skip-baseline'] !== 'true') {
      const naive = await startNaiveServer(`ws://127.0.0.1:${stack.ports.result}/graphql`, `http://127.0.0.1:${stack.ports.vote}/graphql`);
      naiveRunning = naive;
      try {
        results.push(
          await measureFanout({ ...common, target: { name: 'baseline (naive, per subscriber)', wsUrl: naive.wsUrl, pid: naive.pid }, drainTimeoutMs: 20_000 }),
        );
      } finally {
        await naive.stop();
        naiveRunning = undefined;
      }
    }
  }
} finally {
  await fleet.close();
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
console.log(
  '\nlatency = receipt time at the subscriber − PollResults.committedAt (the worker commit); CPU columns cover the updates and delivery (cores = CPU s / wall s).\n',
);
console.log(
  table(
    [
      'server',
      'N',
      'subscribed',
      'refused (error)',
      'events delivered',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'server CPU',
      'vote+result subgraphs CPU',
      'client CPU',
      'machine CPU (all)',
      'RSS before MiB',
      'RSS idle MiB',
      'RSS KiB/conn',
      'heap KiB/conn',
    ],
    results.map((r) => [
      r.target,
      r.subscribers,
      r.subscribed,
      r.operationErrors,
      `${formatNumber(r.receivedEvents)} / ${formatNumber(r.expectedEvents)}`,
      r.latency.p50,
      r.latency.p90,
      r.latency.p99,
      r.latency.max,
      r.serverCores.toFixed(2),
      r.subgraphCores.toFixed(2),
      r.clientCores.toFixed(2),
      r.machineCores.toFixed(2),
      (r.rssBeforeBytes / 2 ** 20).toFixed(0),
      (r.rssIdleBytes / 2 ** 20).toFixed(0),
      kib((r.rssIdleBytes - r.rssBeforeBytes) / Math.max(1, r.subscribed)),
      r.heapDeltaBytes === undefined ? '–' : kib(r.heapDeltaBytes / Math.max(1, r.subscribed)),
    ]),
  ),
);
const largest = results.filter((r) => r.target.startsWith('gateway')).at(-1);
const largestFloor = results.filter((r) => r.target.startsWith('floor')).at(-1);
if (largestFloor)
  console.log(
    `\nfloor at N=${formatNumber(largestFloor.subscribers)} (same clients, same machine, nothing in front of the write loop): p50 ${largestFloor.latency.p50} ms, p99 ${largestFloor.latency.p99} ms`,
  );
if (largest) {
  const perConnection = (largest.rssIdleBytes - largest.rssBeforeBytes) / Math.max(1, largest.subscribed);
  const complete = largest.receivedEvents >= largest.expectedEvents && largest.subscribed === largest.subscribers;
  console.log(
    `\ntarget ${formatNumber(TARGET_SIZE)} subscribers with p99 < ${P99_TARGET_MS} ms: ${verdict(largest.subscribers >= TARGET_SIZE && complete && largest.latency.p99 < P99_TARGET_MS)} (N=${formatNumber(largest.subscribers)}, p99 ${largest.latency.p99.toFixed(1)} ms, ${formatNumber(largest.receivedEvents)}/${formatNumber(largest.expectedEvents)} events)`,
  );
  console.log(
    `target < 20 KiB per idle connection: ${verdict(largest.subscribers >= TARGET_SIZE && perConnection < MEMORY_TARGET_BYTES)} (${kib(perConnection)} KiB RSS per connection at N=${formatNumber(largest.subscribers)})`,
  );
}
