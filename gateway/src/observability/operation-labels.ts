// Which `operation_name` label value a GraphQL operation is counted under. The name is chosen by
// the client, so taken as is it lets anyone create series at will (random names), crowd real
// operations out of a first-come label budget, or count their own document under the name of
// another team's operation. The policy, in order:
//
//   - no name (anonymous, or not resolved: refused, unparsable)  → ""
//   - a name pinned to this document                             → the name
//   - a name pinned to another document                          → "(mismatch)"
//   - a new name, with a free slot and this window's budget left → pinned to this document; the name
//   - a new name otherwise                                       → "(overflow)"
//
// A name is pinned to the hash of the first document it arrives with (Apollo's `queryHash`, the
// SHA-256 of the query text), so the same name with any other document never adds to its series.
// Pins that saw no matching request during a whole window are forgotten (their series removed),
// which frees the slots a flood of one-off names took. A busy operation is never evicted by names
// that arrive later. At the end of a window the name moves to the document that used it most in
// that window, if that is not the pinned one: so whoever sent a name first (after a restart, say)
// keeps it only while their document is the one mostly sent under it, and a new version of a
// document takes its name once most clients run it; taking a busy name back means out-sending its
// real traffic for a whole window. The reserved values are not GraphQL names, so no operation can
// be called them.
export const ANONYMOUS_OPERATION = '';
export const MISMATCHED_DOCUMENT = '(mismatch)';
export const OVERFLOW_OPERATION = '(overflow)';

export interface OperationLabelOptions {
  /** Names pinned at once (each becomes a label value). @default 200 */
  readonly maxNames?: number;
  /** New names pinned per window; later new names in the window count as (overflow). @default 50 */
  readonly maxNewNamesPerWindow?: number;
  /** Window length in ms: the admission budget resets and idle pins are forgotten. @default 3_600_000 */
  readonly windowMs?: number;
  /** @default performance.now */
  readonly now?: () => number;
  /** Called with each forgotten name, so the caller can drop its series. */
  readonly onForget?: (name: string) => void;
}

export interface OperationLabels {
  /**
   * The label value for an operation `name` (undefined: anonymous) with document hash `documentHash`:
   * one of the reserved values above, or the name itself, which is then pinned (until onForget).
   */
  label(name: string | undefined, documentHash: string | undefined): string;
}

interface Pin {
  documentHash: string;
  /** Matching requests in the current window. */
  matched: number;
  /**
   * The other document sent most under this name in the current window, by the Boyer-Moore majority
   * vote (one hash and a count, whatever the number of documents): if one document sent more than
   * half of the mismatching requests, it is this one, and `count` is at most its lead over the rest.
   */
  rival: { documentHash: string; count: number } | undefined;
}

/** Counts a mismatching request for the majority vote of `pin.rival`. */
function countRival(pin: Pin, documentHash: string): void {
  if (pin.rival?.documentHash === documentHash) pin.rival.count += 1;
  else if (!pin.rival || pin.rival.count === 0) pin.rival = { documentHash, count: 1 };
  else pin.rival.count -= 1;
}

export function createOperationLabels(options: OperationLabelOptions = {}): OperationLabels {
  const maxNames = options.maxNames ?? 200;
  const maxNew = options.maxNewNamesPerWindow ?? 50;
  const windowMs = options.windowMs ?? 3_600_000;
  const now = options.now ?? (() => performance.now());
  const pins = new Map<string, Pin>();
  let windowStart = now();
  let admitted = 0;

  // Lazily, on the first request after a window ended: no timer to own or stop.
  const roll = (): void => {
    const windows = Math.floor((now() - windowStart) / windowMs);
    if (windows === 0) return;
    // A pin made or used in the window that just ended survives it; one idle for a whole window
    // goes (after a quiet spell of two windows or more, that is every pin).
    for (const [name, pin] of pins) {
      const rival = pin.rival;
      if (windows === 1 && rival && rival.count > pin.matched) {
        // Another document used the name more than the pinned one did: the name is its now.
        pin.documentHash = rival.documentHash;
        pin.matched = 0;
        pin.rival = undefined;
      } else if (pin.matched > 0 && windows === 1) {
        pin.matched = 0;
        pin.rival = undefined;
      } else {
        pins.delete(name);
        options.onForget?.(name);
      }
    }
    windowStart += windows * windowMs;
    admitted = 0;
  };

  return {
    label(name, documentHash) {
      if (!name) return ANONYMOUS_OPERATION;
      roll();
      const pin = pins.get(name);
      if (pin) {
        if (pin.documentHash !== documentHash) {
          if (documentHash !== undefined) countRival(pin, documentHash);
          return MISMATCHED_DOCUMENT;
        }
        pin.matched += 1;
        return name;
      }
      // No hash means no document to pin to (cannot happen for a resolved operation; be safe).
      if (documentHash === undefined || pins.size >= maxNames || admitted >= maxNew) return OVERFLOW_OPERATION;
      pins.set(name, { documentHash, matched: 1, rival: undefined });
      admitted += 1;
      return name;
    },
  };
}
