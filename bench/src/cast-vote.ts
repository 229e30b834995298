// Issue 2b: castVote through the whole stack (gateway → vote subgraph → Redis stream → worker),
// started as real processes by the e2e harness. Voters are real dev-issuer tokens; each voter has at
// most one request in flight, so the order of its votes is known and the final tally can be checked
// exactly. The baseline sends the same open-loop load to the vote subgraph directly, with the signed
// identity header the gateway would have added.
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Pool } from 'undici';
import { IDENTITY_HEADER, identitySecretKey, signIdentity } from '@votemesh/common/contracts/identity';
import { createRedisKeys } from '@votemesh/common/contracts/redis-keys';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createGraphQLClient } from '../../e2e/src/graphql-client.ts';
import { createOpenPoll, type CreatedPoll } from '../../e2e/src/scenario.ts';
import { ADMIN_SECRET, startStack, type Stack } from '../../e2e/src/stack.ts';
import { closedLoop, createPool, openLoop, type LoadRequest, type LoadResult } from './http-load.ts';
import { cpuMeter, findDescendantPid, onInterrupt, readProcessEnv } from './proc.ts';

export interface CastVoteOptions {
  readonly voters: number;
  readonly concurrency: number;
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly redisUrl: string;
  /** When set, the gateway writes a V8 CPU profile into this directory when it exits. */
  readonly profileDir?: string;
  /** Extra environment for every process of the stack (e.g. OTEL_SDK_DISABLED=true for a comparison). */
  readonly stackEnv?: Record<string, string>;
}

export interface PhaseResult {
  readonly name: string;
  readonly target: 'gateway' | 'vote subgraph';
  readonly mode: string;
  readonly load: LoadResult;
  /** CPU seconds per process during the phase. */
  readonly cpu: Record<string, number>;
}

export interface CastVoteResult {
  readonly phases: readonly PhaseResult[];
  readonly tallyCheck: string;
}

const CAST_VOTE = 'mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status } }';
const STACK_ENTRIES = {
  gateway: 'gateway/src/main.ts',
  'vote subgraph': 'subgraphs/vote/src/main.ts',
  worker: 'worker/src/main.ts',
  'result subgraph': 'subgraphs/result/src/main.ts',
  'audit subgraph': 'subgraphs/audit/src/main.ts',
} as const;

interface Voter {
  readonly subject: string;
  readonly token: string;
  identity: string;
}

export async function runCastVoteBenchmark(options: CastVoteOptions, log: (line: string) => void): Promise<CastVoteResult> {
  await using stack = await startStack({
    ...(options.profileDir ? { gatewayEnv: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.profileDir}` } } : {}),
    ...(options.stackEnv ? { sharedEnv: options.stackEnv } : {}),
  });
  using _interrupt = { [Symbol.dispose]: onInterrupt(() => stack[Symbol.asyncDispose]()) };
  const client = createGraphQLClient(stack.gatewayUrl);
  const poll = await createOpenPoll(client, await client.adminToken(ADMIN_SECRET), ['Red', 'Green', 'Blue', 'Yellow'], 'Benchmark: which colour?');
  const pids = Object.fromEntries(Object.entries(STACK_ENTRIES).map(([name, entry]) => [name, findDescendantPid(entry)]));
  const gatewayPool = createPool(stack.gatewayUrl, 128);
  const votePool = createPool(`http://127.0.0.1:${stack.ports.vote}`, 128);
  const redis = new Redis(options.redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    const started = performance.now();
    const voters = await issueVoters(gatewayPool, options.voters);
    // The secret the vote subgraph verifies identities with, exactly as the harness gave it.
    const secret = readProcessEnv(pids['vote subgraph'] as number, 'IDENTITY_SECRET');
    if (!secret) throw new Error('the vote subgraph has no IDENTITY_SECRET in its environment');
    const key = identitySecretKey(secret);
    for (const voter of voters) voter.identity = await signIdentity(key, { subject: voter.subject, role: 'voter' }, 1800);
    log(`stack up, poll open, ${voters.length} voter tokens + signed identities ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const ballots = createBallotBox(poll, voters);
    const viaGateway = (voter: Voter): Omit<LoadRequest, 'body' | 'done'> => ({ path: '/graphql', headers: { authorization: `Bearer ${voter.token}` } });
    const direct = (voter: Voter): Omit<LoadRequest, 'body' | 'done'> => ({ path: '/graphql', headers: { [IDENTITY_HEADER]: voter.identity } });
    const phases: PhaseResult[] = [];
    const settle = (): Promise<void> => waitForStreamDrained(redis, stack);
    const phase = async (name: string, target: PhaseResult['target'], mode: string, run: () => Promise<LoadResult>): Promise<void> => {
      await settle();
      const meter = cpuMeter(pids);
      const load = await run();
      phases.push({ name, target, mode, load, cpu: meter() });
      log(`${name}: ${load.ok} ok, ${[...load.errors.values()].reduce((a, b) => a + b, 0)} errors in ${load.elapsedSeconds.toFixed(1)} s`);
    };

    await closedLoop(gatewayPool, { concurrency: options.concurrency, durationMs: options.warmupMs, next: () => ballots.next(viaGateway) });
    await closedLoop(votePool, { concurrency: options.concurrency, durationMs: Math.min(options.warmupMs, 2000), next: () => ballots.next(direct) });
    await phase('gateway, closed loop', 'gateway', `closed, ${options.concurrency} concurrent`, () =>
      closedLoop(gatewayPool, { concurrency: options.concurrency, durationMs: options.durationMs, next: () => ballots.next(viaGateway) }),
    );
    await phase('vote subgraph direct, closed loop', 'vote subgraph', `closed, ${options.concurrency} concurrent`, () =>
      closedLoop(votePool, { concurrency: options.concurrency, durationMs: options.durationMs, next: () => ballots.next(direct) }),
    );
    await phase('gateway, open loop', 'gateway', `open, ${options.rate}/s`, () =>
      openLoop(gatewayPool, { ratePerSecond: options.rate, durationMs: options.durationMs, next: () => ballots.next(viaGateway) }),
    );
    await phase('vote subgraph direct, open loop (baseline)', 'vote subgraph', `open, ${options.rate}/s`, () =>
      openLoop(votePool, { ratePerSecond: options.rate, durationMs: options.durationMs, next: () => ballots.next(direct) }),
    );

    const tallyCheck = await verifyTally(stack, poll, ballots);
    return { phases, tallyCheck };
  } finally {
    redis.disconnect();
    await Promise.all([gatewayPool.close(), votePool.close()]);
  }
}

async function issueVoters(pool: Pool, count: number): Promise<Voter[]> {
  const voters: Voter[] = [];
  let issued = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (issued < count) {
        issued += 1;
        const response = await pool.request({ method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/json' }, body: '{}' });
        const body = (await response.body.json()) as { token?: string; subject?: string };
        if (response.statusCode !== 200 || !body.token || !body.subject)
          throw new Error(`token request failed: HTTP ${response.statusCode} ${JSON.stringify(body)}`);
        voters.push({ subject: body.subject, token: body.token, identity: '' });
      }
    }),
  );
  return voters;
}

interface BallotBox {
  /** The next vote, or undefined when every voter has one in flight. */
  next(route: (voter: Voter) => Omit<LoadRequest, 'body' | 'done'>): LoadRequest | undefined;
  /** The option each voter's last ACCEPTED vote chose. */
  readonly lastChoice: ReadonlyMap<string, string>;
  failures(): number;
}

/** Hands out votes so that a voter never has two in flight: its accepted votes reach the stream in order. */
function createBallotBox(poll: CreatedPoll, voters: readonly Voter[]): BallotBox {
  const idle = [...voters];
  let head = 0;
  const lastChoice = new Map<string, string>();
  let failures = 0;
  let counter = 0;
  return {
    next(route) {
      if (head >= idle.length) return undefined;
      const voter = idle[head++] as Voter;
      if (head > 4096 && head * 2 > idle.length) idle.splice(0, head), (head = 0);
      const option = poll.options[(counter += 1) % poll.options.length] as CreatedPoll['options'][number];
      return {
        ...route(voter),
        body: JSON.stringify({ query: CAST_VOTE, variables: { pollId: poll.id, optionId: option.id } }),
        done: (ok) => {
          if (ok) lastChoice.set(voter.subject, option.id);
          else failures += 1;
          idle.push(voter);
        },
      };
    },
    lastChoice,
    failures: () => failures,
  };
}

async function waitForStreamDrained(redis: Redis, stack: Stack): Promise<void> {
  const key = createRedisKeys(stack.redisPrefix).votes;
  await waitFor(async () => (await redis.xlen(key)) === 0, { timeoutMs: 60_000, intervalMs: 50, what: 'the worker to apply the previous phase' });
}

async function verifyTally(stack: Stack, poll: CreatedPoll, ballots: BallotBox): Promise<string> {
  const expected = new Map(poll.options.map((option) => [option.id, 0]));
  for (const optionId of ballots.lastChoice.values()) expected.set(optionId, (expected.get(optionId) ?? 0) + 1);
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    let actual = new Map<string, number>();
    const exact = await waitFor(
      async () => {
        const { rows } = await db.query<{ option_id: string; votes: string }>(
          'SELECT option_id::text AS option_id, votes::text AS votes FROM option_tallies WHERE poll_id = $1',
          [poll.id],
        );
        actual = new Map(rows.map((row) => [row.option_id, Number(row.votes)]));
        return [...expected].every(([optionId, votes]) => (actual.get(optionId) ?? 0) === votes);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the tally to equal the votes the benchmark cast' },
    ).catch(() => false);
    const summary = [...expected].map(([optionId, votes]) => `${votes}/${actual.get(optionId) ?? 0}`).join(', ');
    if (exact) return `exact: ${ballots.lastChoice.size} voters' last accepted votes = the tally (expected/actual per option: ${summary})`;
    if (ballots.failures() > 0)
      return `not checkable: ${ballots.failures()} requests failed (a failed request may or may not have been cast); expected/actual ${summary}`;
    throw new Error(`tally mismatch: expected/actual per option ${summary}`);
  } finally {
    await db.end();
  }
}
