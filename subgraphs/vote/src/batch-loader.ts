// A minimal DataLoader: loads made in the same tick are answered by ONE batch call, and each key
// is fetched at most once per loader. One loader set lives per request (per subscription event), so
// the gateway's `_entities` call with hundreds of representations costs one query, not hundreds.
export type BatchFn<V> = (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>;

export interface BatchLoader<V> {
  /** Resolves to the value, or null when the batch had none for this key. */
  load(key: string): Promise<V | null>;
  /** Forgets every cached value, so the next loads read fresh data. */
  clearAll(): void;
}

export function createBatchLoader<V>(batch: BatchFn<V>): BatchLoader<V> {
  const cache = new Map<string, Promise<V | null>>();
  let pending: { key: string; resolve: (value: V | null) => void; reject: (error: unknown) => void }[] = [];

  function dispatch(): void {
    const queue = pending;
    pending = [];
    batch(queue.map((item) => item.key)).then(
      (values) => {
        for (const item of queue) item.resolve(values.get(item.key) ?? null);
      },
      (error: unknown) => {
        for (const item of queue) {
          cache.delete(item.key);
          item.reject(error);
        }
      },
    );
  }

  return {
    load(key) {
      const cached = cache.get(key);
      if (cached) return cached;
      const promise = new Promise<V | null>((resolve, reject) => {
        // As DataLoader does: wait for the current promise jobs to settle, then one more tick, so
        // every resolver of the same execution step has queued its key.
        if (pending.length === 0) void Promise.resolve().then(() => process.nextTick(dispatch));
        pending.push({ key, resolve, reject });
      });
      cache.set(key, promise);
      return promise;
    },
    clearAll() {
      cache.clear();
    },
  };
}
