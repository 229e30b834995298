// Rate-limits a stream of versioned states to at most one emission per interval without ever
// losing the newest state:
// - leading edge: a state offered while idle is emitted at once, and a cool-down of `intervalMs`
//   starts;
// - during the cool-down only the newest offered state is kept; when the cool-down ends it is
//   emitted (trailing edge) and a new cool-down starts; if nothing arrived, the coalescer goes idle;
// - a state whose version is not newer than the newest one already emitted or pending is dropped,
//   so emissions are strictly increasing in version (never an older state after a newer one).
// Timers are plain setTimeout/clearTimeout, so tests drive them with node:test mock timers.

export interface Versioned {
  readonly version: number;
}

export interface CoalescerOptions<T extends Versioned> {
  /** Minimum time between two emissions; 0 emits every newer state at once. */
  readonly intervalMs: number;
  readonly emit: (state: T) => void;
}

export interface Coalescer<T extends Versioned> {
  /** Offers a state; returns false when it was dropped as stale. */
  offer(state: T): boolean;
  /** Version of the newest state emitted so far, or -1. */
  readonly emittedVersion: number;
  /** Stops the timer and forgets a pending state. Safe to call twice. */
  dispose(): void;
}

type CoalescerState<T> =
  | { readonly kind: 'idle' }
  | { readonly kind: 'cooling'; readonly timer: NodeJS.Timeout; readonly pending: T | undefined }
  | { readonly kind: 'disposed' };

export function createCoalescer<T extends Versioned>(options: CoalescerOptions<T>): Coalescer<T> {
  if (!Number.isFinite(options.intervalMs) || options.intervalMs < 0) {
    throw new RangeError(`intervalMs must be a non-negative number, got ${options.intervalMs}`);
  }
  let state: CoalescerState<T> = { kind: 'idle' };
  let emittedVersion = -1;

  function emitAndCool(value: T): void {
    emittedVersion = value.version;
    if (options.intervalMs > 0) state = { kind: 'cooling', timer: setTimeout(endCoolDown, options.intervalMs), pending: undefined };
    options.emit(value);
  }

  function endCoolDown(): void {
    if (state.kind !== 'cooling') return;
    const { pending } = state;
    state = { kind: 'idle' };
    if (pending !== undefined) emitAndCool(pending);
  }

  return {
    offer(value) {
      switch (state.kind) {
        case 'disposed':
          return false;
        case 'idle':
          if (value.version <= emittedVersion) return false;
          emitAndCool(value);
          return true;
        case 'cooling': {
          const newest = state.pending?.version ?? emittedVersion;
          if (value.version <= newest) return false;
          state = { ...state, pending: value };
          return true;
        }
        default:
          return assertNever(state);
      }
    },
    get emittedVersion() {
      return emittedVersion;
    },
    dispose() {
      if (state.kind === 'cooling') clearTimeout(state.timer);
      state = { kind: 'disposed' };
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected state ${JSON.stringify(value)}`);
}
