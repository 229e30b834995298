// `node --import tsx bench/steady.ts`: the worker under a steady moderate vote rate (what castVote
// load feeds it), where batches are small and per-batch costs dominate: CPU per vote of the worker,
// PostgreSQL and Redis, batches per second and receipt latency. Each --code-root is run in turn,
// alternating --rounds times, so the comparison shares the session's conditions.
// Flags: --rate (votes/s) --duration (s) --warmup (s) --rounds N
//        --code-root DIR[,DIR…]: checkouts whose worker runs (default: this one); e.g. /work/main,.
//        --worker-env K=V,K=V: extra worker environment for every run (e.g. BATCH_INTERVAL_MS=0).
import { resolve } from 'node:path';
import { printHeader, positiveInt, readFlags, table } from './src/report.ts';
import { runSteadyBenchmark, type SteadyRunResult } from './src/steady-run.ts';

const flags = readFlags({ rate: '600', duration: '10', warmup: '2', rounds: '1', 'code-root': '.', 'worker-env': '' });
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const workerEnv = Object.fromEntries(
  flags['worker-env']
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const roots = flags['code-root'].split(',').map((root) => resolve(root));

await printHeader('bench:steady — the worker at a steady moderate vote rate');
const results: SteadyRunResult[] = [];
for (let round = 1; round <= positiveInt(flags.rounds, 'rounds'); round += 1) {
  for (const codeRoot of roots) {
    const result = await runSteadyBenchmark({
      label: `${round}: ${codeRoot}`,
      rate: positiveInt(flags.rate, 'rate'),
      warmupMs: positiveInt(flags.warmup, 'warmup') * 1000,
      durationMs: positiveInt(flags.duration, 'duration') * 1000,
      codeRoot,
      workerEnv,
      redisUrl,
    });
    console.log(`${result.label}: ${result.check}; worker settings ${JSON.stringify(result.settings)}`);
    results.push(result);
  }
}
console.log(
  `\n${table(
    [
      'run',
      'votes/s',
      'batches/s',
      'votes/batch',
      'worker ms/vote',
      'postgres ms/vote',
      'own backends ms/vote',
      'redis ms/vote',
      'machine ms/vote',
      'worker cores',
      'postgres cores',
      'receipt p50 ms',
      'p99 ms',
    ],
    results.map((run) => [
      run.label,
      Math.round(run.votesPerSecond),
      Math.round(run.batchesPerSecond),
      run.entriesPerBatch,
      run.cpuMsPerVote.worker,
      run.cpuMsPerVote.postgres,
      run.cpuMsPerVote.backends,
      run.cpuMsPerVote.redis,
      run.cpuMsPerVote.machine,
      run.cores.worker,
      run.cores.postgres,
      run.receiptLatency.p50,
      run.receiptLatency.p99,
    ]),
  )}`,
);
