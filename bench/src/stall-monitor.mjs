// Diagnostic preload for the processes of a benchmark stack: where does a request's tail time go?
//
//   node --import tsx bench/ingest.ts --skip apply \
//     --stack-env NODE_OPTIONS=--import=/abs/path/bench/src/stall-monitor.mjs,STALL_MONITOR_DIR=/tmp/stalls
//
// Each process appends lines to STALL_MONITOR_DIR/<entry>-<pid>.log (wall-clock ms timestamps, so
// the files of all processes and a load generator's own timestamps line up):
//   lag <end> <ms> run=<ms> wait=<ms>   the event loop was late by <ms> (> 8 ms); over that interval
//                                        the main thread ran <run> ms and sat runnable on a run queue,
//                                        waiting for a CPU, <wait> ms (/proc schedstat). wait ≫ run is
//                                        the host's CPU contention, run ≫ wait is the process's own work.
//   gc <start> <ms> kind=<n> new=… old=…  a GC pause (kind 1 scavenge, 4 mark-compact, 8 incremental)
//                                        and the heap spaces after it, used/size MiB
//   srv <start> <ms> <url>                an HTTP request this process served, header parsed → response sent
//   up <start> <ms> <origin>              an undici request this process sent, created → answer headers
//   conn <time> <host:port>               undici opened a connection
// Plain .mjs: NODE_OPTIONS imports run before the child's own `--import tsx`.
import dc from 'node:diagnostics_channel';
import { appendFileSync, readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';

const dir = process.env.STALL_MONITOR_DIR ?? '/tmp';
const entry = (process.argv.find((arg) => arg.endsWith('main.ts')) ?? process.argv[1] ?? 'node').split('/').slice(-3).join('_');
const file = `${dir}/${entry}-${process.pid}.log`;
const lines = [];
const wall = (at = performance.now()) => (performance.timeOrigin + at).toFixed(1);
const flush = () => {
  if (lines.length === 0) return;
  appendFileSync(file, `${lines.join('\n')}\n`);
  lines.length = 0;
};
setInterval(flush, 1000).unref();
process.on('exit', flush);

// schedstat of the main thread: [ns on CPU, ns runnable but waiting on a run queue, timeslices].
const schedstat = () => readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
const TICK_MS = 5;
let last = performance.now();
let lastSched = schedstat();
setInterval(() => {
  const now = performance.now();
  const sched = schedstat();
  const lag = now - last - TICK_MS;
  if (lag > 8) {
    const ms = (index) => ((sched[index] - lastSched[index]) / 1e6).toFixed(1);
    lines.push(`lag ${wall(now)} ${lag.toFixed(1)} run=${ms(0)} wait=${ms(1)}`);
  }
  last = now;
  lastSched = sched;
}, TICK_MS).unref();

new PerformanceObserver((list) => {
  const mib = (bytes) => (bytes / 1048576).toFixed(1);
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, `${mib(space.space_used_size)}/${mib(space.space_size)}`]));
  for (const gc of list.getEntries()) {
    lines.push(`gc ${wall(gc.startTime)} ${gc.duration.toFixed(2)} kind=${gc.detail?.kind} new=${spaces.new_space} old=${spaces.old_space}`);
  }
}).observe({ entryTypes: ['gc'] });

const served = new WeakMap();
dc.subscribe('http.server.request.start', ({ request }) => served.set(request, performance.now()));
dc.subscribe('http.server.response.finish', ({ request }) => {
  const start = served.get(request);
  if (start !== undefined) lines.push(`srv ${wall(start)} ${(performance.now() - start).toFixed(2)} ${request.url}`);
});
const sent = new WeakMap();
dc.subscribe('undici:request:create', ({ request }) => sent.set(request, performance.now()));
dc.subscribe('undici:request:headers', ({ request }) => {
  const start = sent.get(request);
  if (start !== undefined) lines.push(`up ${wall(start)} ${(performance.now() - start).toFixed(2)} ${request.origin}`);
});
dc.subscribe('undici:client:connected', ({ connectParams }) => lines.push(`conn ${wall()} ${connectParams.host}:${connectParams.port}`));
