// One serialized ExecutionResult on its way to many subscribers. The hub serializes an event once
// per resolution group; transports then build their wire bytes from it once and share them: the
// UTF-8 encoding is done once, and a transport's framing (an SSE `event: next` block, a complete
// WebSocket `next` frame for a given operation id) is memoized per framing key, so 10,000
// subscribers with the same key cost 10,000 writes of ONE Buffer, not 10,000 encodings.

/** Framings kept per result: ids are usually few (`1`, `2`, …), but UUID ids are one per
 * subscriber; past this many the rest are built per write without being kept. */
const MAX_FRAMINGS = 32;

export class OutgoingResult {
  /** The ExecutionResult as JSON. */
  readonly json: string;
  #bytes: Buffer | undefined;
  #framings: Map<string, Buffer> | undefined;

  constructor(json: string) {
    this.json = json;
  }

  /** `json` as UTF-8, encoded on first use. */
  get bytes(): Buffer {
    this.#bytes ??= Buffer.from(this.json);
    return this.#bytes;
  }

  /** The transport's framing of this result under `key`, built by `build` once per key. */
  framed(key: string, build: (result: OutgoingResult) => Buffer): Buffer {
    const known = this.#framings?.get(key);
    if (known) return known;
    const framed = build(this);
    this.#framings ??= new Map();
    if (this.#framings.size < MAX_FRAMINGS) this.#framings.set(key, framed);
    return framed;
  }
}

export function outgoing(result: unknown): OutgoingResult {
  return new OutgoingResult(JSON.stringify(result));
}
