// HTTP load generation for GraphQL POSTs over keep-alive connections (one undici Pool per origin).
// Closed loop: `concurrency` lanes, each sends its next request when the previous one answered —
// finds the sustained maximum. Open loop: requests leave on a fixed timetable whatever the server
// does, and latency is measured from the SCHEDULED send time, so time spent queueing behind a slow
// request counts (no coordinated omission).
import { Pool } from 'undici';

export interface LoadRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Called once with the outcome (e.g. to release the voter and remember an accepted vote). */
  readonly done?: (ok: boolean) => void;
}

export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  /** Non-200 answers and GraphQL `errors`, by short reason. */
  readonly errors: ReadonlyMap<string, number>;
  readonly elapsedSeconds: number;
  /** Milliseconds per successful request (open loop: from the scheduled time). */
  readonly latenciesMs: Float64Array;
  /** Largest delay between a request's scheduled and actual send (open loop). */
  readonly maxSendLagMs: number;
  /** CPU seconds this process used while generating. */
  readonly generatorCpuSeconds: number;
}

export function createPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

async function send(pool: Pool, request: LoadRequest): Promise<Outcome> {
  try {
    const response = await pool.request({
      method: 'POST',
      path: request.path,
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return { ok: false, reason: `HTTP ${response.statusCode}` };
    // Cheap check: a castVote answer is tiny; only look closer when it carries errors.
    if (text.includes('"errors"')) return { ok: false, reason: /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? 'GraphQL error' };
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.name : 'error' };
  }
}

class Recorder {
  readonly latencies: number[] = [];
  readonly errors = new Map<string, number>();
  sent = 0;
  ok = 0;
  record(outcome: Outcome, latencyMs: number): void {
    if (outcome.ok) {
      this.ok += 1;
      this.latencies.push(latencyMs);
    } else this.errors.set(outcome.reason, (this.errors.get(outcome.reason) ?? 0) + 1);
  }
}

export async function closedLoop(pool: Pool, options: { concurrency: number; durationMs: number; next: () => LoadRequest | undefined }): Promise<LoadResult> {
  const recorder = new Recorder();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const endAt = started + options.durationMs;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < endAt) {
        const request = options.next();
        // Each lane waits for its answer, so only more lanes than voters can run out.
        if (request === undefined) throw new Error(`closed loop: ${options.concurrency} lanes need at least as many voters`);
        recorder.sent += 1;
        const sentAt = performance.now();
        const outcome = await send(pool, request);
        recorder.record(outcome, performance.now() - sentAt);
        request.done?.(outcome.ok);
      }
    }),
  );
  return finish(recorder, started, cpu, 0);
}

/** Counted as an error of an open-loop request that could not leave: the server is that far behind. */
export const NOT_SENT_BACKLOG = 'not sent: every voter still has a vote in flight';

/**
 * `next` answers undefined when the workload cannot produce a request now (every voter is waiting
 * for an answer): that request counts as an error, so a server that falls behind the timetable
 * shows as errors instead of stopping the run.
 */
export async function openLoop(pool: Pool, options: { ratePerSecond: number; durationMs: number; next: () => LoadRequest | undefined }): Promise<LoadResult> {
  const recorder = new Recorder();
  const total = Math.round((options.ratePerSecond * options.durationMs) / 1000);
  const intervalMs = 1000 / options.ratePerSecond;
  const inFlight: Promise<void>[] = [];
  let maxSendLagMs = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let index = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const now = performance.now();
      // Send everything whose time has come (a late timer sends the backlog at once).
      while (index < total && started + index * intervalMs <= now) {
        const scheduledAt = started + index * intervalMs;
        maxSendLagMs = Math.max(maxSendLagMs, now - scheduledAt);
        const request = options.next();
        recorder.sent += 1;
        index += 1;
        if (request === undefined) {
          recorder.record({ ok: false, reason: NOT_SENT_BACKLOG }, 0);
          continue;
        }
        inFlight.push(
          send(pool, request).then((outcome) => {
            recorder.record(outcome, performance.now() - scheduledAt);
            request.done?.(outcome.ok);
          }),
        );
      }
      if (index >= total) resolve();
      else setTimeout(pump, Math.max(0, started + index * intervalMs - performance.now()));
    };
    pump();
  });
  await Promise.all(inFlight);
  return finish(recorder, started, cpu, maxSendLagMs);
}

function finish(recorder: Recorder, started: number, cpu: NodeJS.CpuUsage, maxSendLagMs: number): LoadResult {
  const used = process.cpuUsage(cpu);
  return {
    sent: recorder.sent,
    ok: recorder.ok,
    errors: recorder.errors,
    elapsedSeconds: (performance.now() - started) / 1000,
    latenciesMs: Float64Array.from(recorder.latencies),
    maxSendLagMs,
    generatorCpuSeconds: (used.user + used.system) / 1e6,
  };
}
