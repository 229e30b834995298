// Holds back work a test wants to order: code under test awaits `passage()` before its step, which
// is immediate until the test calls `hold()`, and then waits until the test releases it.

export interface Hold {
  /** Resolves at once, or, while held, when the hold is released. */
  passage(): Promise<void>;
  /** Holds every later `passage()` until the returned function is called. */
  hold(): () => void;
}

export function createHold(): Hold {
  let held: Promise<void> | undefined;
  return {
    passage: () => held ?? Promise.resolve(),
    hold() {
      const { promise, resolve } = Promise.withResolvers<void>();
      held = promise;
      return () => {
        held = undefined;
        resolve();
      };
    },
  };
}
