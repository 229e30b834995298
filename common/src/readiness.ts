// What /readyz answers: "can THIS process serve traffic now". Kubernetes uses readiness to pick
// among replicas, so only what is particular to this process, or what every request it serves
// needs, may fail it (`required`): its own listeners and loaded state, and draining at shutdown.
// Dependencies that only degrade some fields (`degrading`: another subgraph, the tally service,
// Redis for a live feed) are reported in the body and as `votemesh_dependency_up`, never fail it:
// they are shared by every replica, so failing readiness would take all replicas out of the
// Service at once, turn precise errors into mesh 503s, and block the requests that would still
// work, while no restart of this process brings the dependency back. docs/observability.md has the
// per-process table.
//
// /readyz and each Prometheus scrape (`votemesh_dependency_up`) read one shared run of the checks:
// a run in flight is joined, and a run that finished less than `reuseMs` ago is answered again, so
// a probe and a scrape arriving together cost one round of checks (for the gateway, one
// `{ __typename }` per subgraph), not one each. Only the check results are shared; draining is read
// at each call.
import { Gauge, type Registry } from 'prom-client';
import { raceTimeout } from './race-timeout.ts';
import { METRICS } from './telemetry/names.ts';

export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly status: 'ready' | 'not ready' | 'draining';
  /** What decides readiness. */
  readonly checks: readonly CheckResult[];
  /** What only degrades some fields or operations while down. */
  readonly dependencies: readonly CheckResult[];
}

export interface ReadinessOptions {
  /** Every request of this process fails without these: a failure makes /readyz 503. */
  readonly required?: readonly ReadinessCheck[];
  /** Reported (body and `votemesh_dependency_up`), never failing readiness. */
  readonly degrading?: readonly ReadinessCheck[];
  /** Where `votemesh_dependency_up` is registered; each scrape reads the checks' shared run (see reuseMs). */
  readonly registry?: Registry;
  /** How long one check may take before it counts as failed. @default 2000 */
  readonly timeoutMs?: number;
  /**
   * How long a finished run of the checks is answered again instead of running them anew: /readyz
   * and `votemesh_dependency_up` may be this much older than the call. Short, so a dependency that
   * went down shows within about a second. @default READINESS_REUSE_MS (1000)
   */
  readonly reuseMs?: number;
  /** The clock `reuseMs` is measured on. @default performance.now */
  readonly now?: () => number;
}

/** How long a finished run of the readiness checks is answered again (ReadinessOptions.reuseMs). */
export const READINESS_REUSE_MS = 1000;

export interface Readiness {
  report(): Promise<ReadinessReport>;
  /**
   * Answers "draining" (503) from now on, then waits `delayMs` with the listeners still open, so
   * the endpoint controllers (and Istio's sidecars) stop routing here before connections close.
   * Idempotent: a second call waits no longer than the first.
   */
  drain(delayMs?: number): Promise<void>;
  readonly draining: boolean;
}

export function createReadiness(options: ReadinessOptions): Readiness {
  const required = options.required ?? [];
  const degrading = options.degrading ?? [];
  const timeoutMs = options.timeoutMs ?? 2000;
  const reuseMs = options.reuseMs ?? READINESS_REUSE_MS;
  const now = options.now ?? (() => performance.now());
  let draining: Promise<void> | undefined;
  let running: Promise<CheckRun> | undefined;
  let finished: { readonly at: number; readonly run: CheckRun } | undefined;

  // runCheck never rejects, so neither does a run: a shared one cannot fail a caller that joined it.
  const checkAll = (): Promise<CheckRun> => {
    if (finished && now() - finished.at < reuseMs) return Promise.resolve(finished.run);
    running ??= Promise.all([
      Promise.all(required.map((check) => runCheck(check, timeoutMs))),
      Promise.all(degrading.map((check) => runCheck(check, timeoutMs))),
    ]).then(([checks, dependencies]) => {
      finished = { at: now(), run: { checks, dependencies } };
      running = undefined;
      return finished.run;
    });
    return running;
  };

  if (options.registry) {
    new Gauge({
      name: METRICS.dependencyUp.name,
      help: METRICS.dependencyUp.help,
      labelNames: METRICS.dependencyUp.labelNames,
      registers: [options.registry],
      // At each scrape, so the gauge is as fresh as /readyz without a timer of its own.
      async collect() {
        const { checks, dependencies } = await checkAll();
        this.reset();
        for (const result of checks) this.set({ dependency: result.name, required: 'true' }, result.ok ? 1 : 0);
        for (const result of dependencies) this.set({ dependency: result.name, required: 'false' }, result.ok ? 1 : 0);
      },
    });
  }

  return {
    async report() {
      const { checks, dependencies } = await checkAll();
      const ready = draining === undefined && checks.every((result) => result.ok);
      return { ready, status: draining ? 'draining' : ready ? 'ready' : 'not ready', checks, dependencies };
    },
    drain(delayMs = 0) {
      draining ??= delayMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve();
      return draining;
    },
    get draining() {
      return draining !== undefined;
    },
  };
}

interface CheckRun {
  readonly checks: readonly CheckResult[];
  readonly dependencies: readonly CheckResult[];
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  try {
    const outcome = await raceTimeout(check.check(), timeoutMs);
    if (outcome.kind === 'timed-out') return { name: check.name, ok: false, error: `timed out after ${timeoutMs} ms` };
    return { name: check.name, ok: true };
  } catch (error) {
    return { name: check.name, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
