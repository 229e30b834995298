// Issue 3: one pollResults subscription with cross-subgraph fields, N idle-then-live subscribers on
// ONE server process, one tally update per second. Runs the same measurement against the votemesh
// gateway (deduplicated) and against the naive per-subscriber server (naive-gateway.ts).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@votemesh/common/testing/wait-for';
import type { GraphQLClient } from '../../e2e/src/graphql-client.ts';
import { castVote, type CreatedPoll } from '../../e2e/src/scenario.ts';
import type { ClientCommand, ClientKind, ClientReply } from './fanout-client.ts';
import type { FloorCommand, FloorReply } from './floor-server.ts';
import { readCpuSeconds, readMachineBusySeconds, readRssBytes } from './proc.ts';
import { summarize, type LatencySummary } from './report.ts';

export const POLL_RESULTS = `subscription ($pollId: ID!) {
  pollResults(pollId: $pollId) { committedAt totalVotes options { votes option { label } } poll { question } }
}`;

export interface FanoutTarget {
  readonly name: string;
  readonly wsUrl: string;
  readonly pid: number;
  /** Heap in use, when the target reports it (the gateway's /metrics). */
  readonly heapUsedBytes?: () => Promise<number>;
  /** Active subscriptions as the server counts them; undefined → count sockets that got an event. */
  readonly subscriptions?: () => Promise<number>;
  /** Makes update number `index` happen; undefined → one castVote through the gateway (a worker commit). */
  readonly update?: (index: number) => Promise<void>;
}

export interface FanoutMeasurement {
  readonly target: string;
  readonly subscribers: number;
  readonly subscribed: number;
  readonly connectFailures: Record<string, number>;
  readonly connectSeconds: number;
  readonly rssBeforeBytes: number;
  readonly rssIdleBytes: number;
  readonly heapDeltaBytes: number | undefined;
  readonly updates: number;
  readonly expectedEvents: number;
  readonly receivedEvents: number;
  readonly latency: LatencySummary;
  /** Cores used by the server process while the updates flowed (CPU s / wall s). */
  readonly serverCores: number;
  readonly clientCores: number;
  /** Cores used by the vote + result subgraphs meanwhile. */
  readonly subgraphCores: number;
  /** Cores busy on the whole machine meanwhile (everything: stack, clients, PostgreSQL, others). */
  readonly machineCores: number;
  readonly lateCloses: number;
  readonly operationErrors: number;
}

/** Client load processes: each holds a share of the sockets. */
export interface ClientFleet {
  readonly pids: readonly number[];
  send(command: ClientCommand): void;
  /** Sends `command` to every client and resolves with each one's reply of `type`. */
  ask<T extends ClientReply['type']>(command: ClientCommand | ((index: number) => ClientCommand), type: T): Promise<Extract<ClientReply, { type: T }>[]>;
  close(): Promise<void>;
}

const clientEntry = fileURLToPath(new URL('./fanout-client.ts', import.meta.url));

export function startClientFleet(count: number): ClientFleet {
  const children: ChildProcess[] = Array.from({ length: count }, () =>
    fork(clientEntry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const ask = <T extends ClientReply['type']>(
    command: ClientCommand | ((index: number) => ClientCommand),
    type: T,
  ): Promise<Extract<ClientReply, { type: T }>[]> =>
    Promise.all(
      children.map(
        (child, index) =>
          new Promise<Extract<ClientReply, { type: T }>>((resolve, reject) => {
            const onMessage = (message: ClientReply): void => {
              if (message.type !== type) return;
              child.off('message', onMessage);
              child.off('exit', onExit);
              resolve(message as Extract<ClientReply, { type: T }>);
            };
            const onExit = (code: number | null): void => reject(new Error(`fan-out client exited with ${code}`));
            child.on('message', onMessage);
            child.once('exit', onExit);
            child.send(typeof command === 'function' ? command(index) : command);
          }),
      ),
    );
  return {
    pids: children.map((child) => child.pid ?? 0),
    send: (command) => children.forEach((child) => child.send(command)),
    ask,
    async close() {
      await Promise.all(
        children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : (child.once('exit', resolve), child.kill('SIGTERM'))))),
      );
    },
  };
}

export interface MeasureOptions {
  readonly target: FanoutTarget;
  readonly fleet: ClientFleet;
  readonly clientKind: ClientKind;
  readonly subscribers: number;
  readonly tokens: readonly string[];
  readonly poll: CreatedPoll;
  readonly updates: number;
  readonly client: GraphQLClient;
  readonly voterTokens: readonly string[];
  readonly connectTimeoutMs: number;
  /** The vote and result subgraph processes: their CPU is reported too (the naive server loads them). */
  readonly subgraphPids: readonly number[];
  /** After the last update, how long undelivered events are waited for. */
  readonly drainTimeoutMs: number;
  readonly log: (line: string) => void;
}

export async function measureFanout(options: MeasureOptions): Promise<FanoutMeasurement> {
  const { target, fleet, subscribers, poll } = options;
  const clients = fleet.pids.length;
  const rssBeforeBytes = readRssBytes(target.pid);
  const heapBefore = await target.heapUsedBytes?.();

  // Connect and subscribe; every subscriber must have its first event (the current results).
  const share = (index: number): (string | null)[] => {
    const from = Math.floor((subscribers * index) / clients);
    const to = Math.floor((subscribers * (index + 1)) / clients);
    return Array.from({ length: to - from }, (_, offset) => options.tokens[from + offset] ?? null);
  };
  const connected = await fleet.ask(
    (index) => ({
      type: 'connect',
      url: target.wsUrl,
      tokens: share(index),
      query: POLL_RESULTS,
      variables: { pollId: poll.id },
      inFlight: 64,
      client: options.clientKind,
      deadlineMs: options.connectTimeoutMs,
    }),
    'connected',
  );
  const subscribed = connected.reduce((sum, reply) => sum + reply.subscribed, 0);
  const connectFailures: Record<string, number> = {};
  for (const reply of connected) for (const [reason, count] of Object.entries(reply.failures)) connectFailures[reason] = (connectFailures[reason] ?? 0) + count;
  const connectSeconds = Math.max(...connected.map((reply) => reply.seconds));
  // graphql-ws does not acknowledge `subscribe`: wait until the server holds every subscription.
  let active = 0;
  await waitFor(
    async () => {
      if (target.subscriptions) active = await target.subscriptions();
      // A subscription the server refused with an `error` is settled too (counted in `operationErrors`).
      else active = (await fleet.ask({ type: 'count' }, 'count')).reduce((sum, reply) => sum + reply.firstEvents + reply.errors, 0);
      return active >= subscribed;
    },
    { timeoutMs: options.connectTimeoutMs, intervalMs: 200, what: `${target.name} to hold ${subscribed} subscriptions` },
  ).catch(() => options.log(`${target.name}: only ${active} of ${subscribed} subscriptions active`));
  options.log(
    `${target.name}, N=${subscribers}: ${subscribed} subscribed in ${connectSeconds.toFixed(1)} s${Object.keys(connectFailures).length ? `, failures ${JSON.stringify(connectFailures)}` : ''}`,
  );

  // Idle memory: connections open, one subscription each, no events flowing.
  const rssIdleBytes = readRssBytes(target.pid);
  const heapIdle = await target.heapUsedBytes?.();

  // One update per second on a fixed timetable; each vote is one worker commit → one event.
  const since = Date.now();
  fleet.send({ type: 'measure', since });
  const cpuStart = {
    server: readCpuSeconds(target.pid),
    clients: fleet.pids.map(readCpuSeconds),
    subgraphs: options.subgraphPids.map(readCpuSeconds),
    machine: readMachineBusySeconds(),
  };
  const wallStart = performance.now();
  for (let update = 0; update < options.updates; update += 1) {
    const dueAt = wallStart + 1000 * (update + 1);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - performance.now())));
    if (target.update) await target.update(update);
    else {
      const option = poll.options[update % poll.options.length] as CreatedPoll['options'][number];
      await castVote(options.client, options.voterTokens[update % options.voterTokens.length] as string, poll.id, option.id);
    }
  }
  const expectedEvents = subscribed * options.updates;
  let receivedEvents = 0;
  await waitFor(
    async () => {
      receivedEvents = (await fleet.ask({ type: 'count' }, 'count')).reduce((sum, reply) => sum + reply.received, 0);
      return receivedEvents >= expectedEvents;
    },
    { timeoutMs: options.drainTimeoutMs, intervalMs: 200, what: 'every event to reach every subscriber' },
  ).catch(() =>
    options.log(
      `${target.name}, N=${subscribers}: only ${receivedEvents} of ${expectedEvents} events arrived within ${options.drainTimeoutMs / 1000} s of the last update`,
    ),
  );
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const serverCores = (readCpuSeconds(target.pid) - cpuStart.server) / wallSeconds;
  const machineCores = (readMachineBusySeconds() - cpuStart.machine) / wallSeconds;
  const subgraphCores = options.subgraphPids.reduce((sum, pid, index) => sum + readCpuSeconds(pid) - (cpuStart.subgraphs[index] ?? 0), 0) / wallSeconds;
  const clientCores = fleet.pids.reduce((sum, pid, index) => sum + readCpuSeconds(pid) - (cpuStart.clients[index] ?? 0), 0) / wallSeconds;

  const operationErrors = (await fleet.ask({ type: 'count' }, 'count')).reduce((sum, reply) => sum + reply.errors, 0);
  const samples = await fleet.ask({ type: 'collect' }, 'samples');
  const latencies = samples.flatMap((reply) => reply.latencies);
  await fleet.ask({ type: 'close' }, 'closed');
  return {
    target: target.name,
    subscribers,
    subscribed,
    connectFailures,
    connectSeconds,
    rssBeforeBytes,
    rssIdleBytes,
    heapDeltaBytes: heapBefore === undefined || heapIdle === undefined ? undefined : heapIdle - heapBefore,
    updates: options.updates,
    expectedEvents,
    receivedEvents: latencies.length,
    latency: summarize(latencies),
    serverCores,
    clientCores,
    subgraphCores,
    machineCores,
    lateCloses: samples.reduce((sum, reply) => sum + reply.lateCloses, 0),
    operationErrors,
  };
}

export interface FloorServer {
  readonly wsUrl: string;
  readonly pid: number;
  push(sequence: number): Promise<Extract<FloorReply, { type: 'pushed' }>>;
  subscribers(): Promise<number>;
  stop(): Promise<void>;
}

/** floor-server.ts as a child process: one pre-built frame to every socket on each `push`. */
export async function startFloorServer(): Promise<FloorServer> {
  const child = fork(fileURLToPath(new URL('./floor-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ask = <T extends FloorReply['type']>(command: FloorCommand | undefined, type: T): Promise<Extract<FloorReply, { type: T }>> =>
    withDeadline(
      new Promise((resolve, reject) => {
        const onMessage = (message: FloorReply): void => {
          if (message.type !== type) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(message as Extract<FloorReply, { type: T }>);
        };
        const onExit = (code: number | null): void => reject(new Error(`floor server exited with ${code}`));
        child.on('message', onMessage);
        child.once('exit', onExit);
        if (command) child.send(command);
      }),
      30_000,
      `the floor server's ${type} reply`,
    );
  const { port } = await ask(undefined, 'listening');
  return {
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    pid: child.pid ?? 0,
    push: (sequence) => ask({ type: 'push', sequence }, 'pushed'),
    subscribers: async () => (await ask({ type: 'count' }, 'count')).subscribers,
    async stop() {
      child.kill('SIGTERM');
      const fuse = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(fuse);
    },
  };
}

export interface NaiveServer {
  readonly wsUrl: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startNaiveServer(resultWsUrl: string, voteHttpUrl: string): Promise<NaiveServer> {
  const entry = fileURLToPath(new URL('./naive-gateway.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, RESULT_WS_URL: resultWsUrl, VOTE_HTTP_URL: voteHttpUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await withDeadline(
    new Promise<number>((resolve, reject) => {
      if (!child.stdout) return reject(new Error('no stdout'));
      createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { listening: number }).listening));
      child.once('exit', (code) => reject(new Error(`naive server exited with ${code}`)));
    }),
    30_000,
    'the naive server to listen',
  );
  return {
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    pid: child.pid ?? 0,
    async stop() {
      child.kill('SIGTERM');
      const fuse = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(fuse);
    },
  };
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
