// What /readyz answers: "can THIS process serve traffic now". Kubernetes uses readiness to pick
// among replicas, so only what is particular to this process, or what every request it serves
// needs, may fail it (`required`): its own listeners and loaded state, and draining at shutdown.
// Dependencies that only degrade some fields (`degrading`: another subgraph, the tally service,
// Redis for a live feed) are reported in the body and as `votemesh_dependency_up`, never fail it:
// they are shared by every replica, so failing readiness would take all replicas out of the
// Service at once, turn precise errors into mesh 503s, and block the requests that would still
// work, while no restart of this process brings the dependency back. docs/observability.md has the
// per-process table.
import { Gauge, type Registry } from 'prom-client';
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
  /** Where `votemesh_dependency_up` is registered; it runs the checks at each scrape. */
  readonly registry?: Registry;
  /** How long one check may take before it counts as failed. @default 2000 */
  readonly timeoutMs?: number;
}

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
  let draining: Promise<void> | undefined;

  if (options.registry) {
    const all = [...required.map((check) => ({ check, required: 'true' })), ...degrading.map((check) => ({ check, required: 'false' }))];
    new Gauge({
      name: METRICS.dependencyUp.name,
      help: METRICS.dependencyUp.help,
      labelNames: METRICS.dependencyUp.labelNames,
      registers: [options.registry],
      // At each scrape, so the gauge is as fresh as /readyz without a timer of its own.
      async collect() {
        const results = await Promise.all(all.map(({ check }) => runCheck(check, timeoutMs)));
        this.reset();
        results.forEach((result, i) => this.set({ dependency: result.name, required: all[i]?.required ?? 'false' }, result.ok ? 1 : 0));
      },
    });
  }

  return {
    async report() {
      const [checks, dependencies] = await Promise.all([
        Promise.all(required.map((check) => runCheck(check, timeoutMs))),
        Promise.all(degrading.map((check) => runCheck(check, timeoutMs))),
      ]);
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

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name: check.name, ok: true };
  } catch (error) {
    return { name: check.name, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
