// A test double of the worker's TallyService: a real @grpc/grpc-js server on port 0 implementing
// proto/tally.proto over an in-memory tally store. The store outlives `stop()`/`start()`, the way
// PostgreSQL outlives a worker restart. (The worker itself is tested in worker/test, and the e2e
// suite runs the real one.)
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { loadTallyProto } from '@votemesh/common/grpc/load';
import type { PollTally } from '@votemesh/common/grpc/generated/votemesh/tally/v1/PollTally';
import type { TallyServiceHandlers } from '@votemesh/common/grpc/generated/votemesh/tally/v1/TallyService';
import type { WatchResultsRequest__Output } from '@votemesh/common/grpc/generated/votemesh/tally/v1/WatchResultsRequest';

interface StoredTally {
  version: number;
  votes: Map<string, number>;
  committedAtMs: number;
}

export interface FakeTallyService {
  /** host:port, stable across restarts. */
  readonly address: string;
  /** Open WatchResults calls of a poll. */
  watchers(pollId: string): number;
  readonly getResultsCalls: string[];
  /** Applies one "batch": sets the given option counts, bumps the version, pushes to watchers. */
  commit(pollId: string, votes: Record<string, number>): number;
  stop(): void;
  start(): Promise<void>;
}

export async function startFakeTallyService(): Promise<FakeTallyService> {
  const store = new Map<string, StoredTally>();
  const watchers = new Map<string, Set<ServerWritableStream<WatchResultsRequest__Output, PollTally>>>();
  const getResultsCalls: string[] = [];
  let server: Server | undefined;
  let port = 0;

  const read = (pollId: string): StoredTally => store.get(pollId) ?? { version: 0, votes: new Map(), committedAtMs: 0 };
  const toMessage = (pollId: string): PollTally => {
    const tally = read(pollId);
    const options = [...tally.votes].filter(([, votes]) => votes > 0).map(([option_id, votes]) => ({ option_id, votes: String(votes) }));
    return {
      poll_id: pollId,
      version: String(tally.version),
      total_votes: String(options.reduce((sum, option) => sum + Number(option.votes), 0)),
      options,
      votes_per_second: tally.version === 0 ? 0 : 2.5,
      updated_at: tally.committedAtMs === 0 ? '' : new Date(tally.committedAtMs).toISOString(),
      committed_at_ms: String(tally.committedAtMs),
      traceparent: '',
    };
  };

  const handlers: TallyServiceHandlers = {
    GetResults(call, callback) {
      getResultsCalls.push(call.request.poll_id);
      callback(null, toMessage(call.request.poll_id));
    },
    WatchResults(call) {
      const pollId = call.request.poll_id;
      let set = watchers.get(pollId);
      if (!set) watchers.set(pollId, (set = new Set()));
      set.add(call);
      call.on('cancelled', () => set.delete(call));
      call.on('close', () => set.delete(call));
      if (call.request.send_initial) call.write(toMessage(pollId));
    },
  };

  async function start(): Promise<void> {
    const next = new Server();
    next.addService(loadTallyProto().votemesh.tally.v1.TallyService.service, handlers);
    port = await new Promise<number>((resolve, reject) => {
      next.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    server = next;
  }

  await start();
  return {
    get address() {
      return `127.0.0.1:${port}`;
    },
    watchers: (pollId) => watchers.get(pollId)?.size ?? 0,
    getResultsCalls,
    commit(pollId, votes) {
      const tally = read(pollId);
      const next: StoredTally = { version: tally.version + 1, votes: new Map(tally.votes), committedAtMs: Date.now() };
      for (const [optionId, count] of Object.entries(votes)) next.votes.set(optionId, count);
      store.set(pollId, next);
      for (const call of watchers.get(pollId) ?? []) call.write(toMessage(pollId));
      return next.version;
    },
    stop() {
      server?.forceShutdown();
      server = undefined;
      for (const set of watchers.values()) set.clear();
    },
    start,
  };
}
