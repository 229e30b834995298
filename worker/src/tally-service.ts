// TallyService over gRPC: GetResults answers the committed tally of a poll; WatchResults streams
// every new tally of a poll, whichever replica committed it. The process holds ONE subscription
// to the `tally` bus channel (EventBus + KeyedRouter) and fans messages out to streams in memory;
// each stream drops versions it has already passed, and coalesces to the newest tally while the
// client is slow (every tally carries the full counts, so skipping one loses nothing).
import { Metadata, Server, status, type sendUnaryData, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { UUID_PATTERN } from '@votemesh/common/contracts/parse';
import type { TallyUpdate } from '@votemesh/common/contracts/bus';
import type { EventBus, Unsubscribe } from '@votemesh/common/bus/event-bus';
import { createKeyedRouter, keyedMessages } from '@votemesh/common/bus/keyed-router';
import { createGapReread } from '@votemesh/common/bus/gap-reread';
import type { GrpcKeepalive } from '@votemesh/common/config';
import type { PrismaClient } from '@votemesh/common/db/client';
import { toVotemeshError, VotemeshError } from '@votemesh/common/errors';
import type { TallyServiceHandlers } from '@votemesh/common/grpc/generated/votemesh/tally/v1/TallyService';
import type { PollTally, PollTally__Output } from '@votemesh/common/grpc/generated/votemesh/tally/v1/PollTally';
import type { WatchResultsRequest__Output } from '@votemesh/common/grpc/generated/votemesh/tally/v1/WatchResultsRequest';
import { bindGrpcServer } from '@votemesh/common/grpc/bind';
import { serverKeepaliveOptions } from '@votemesh/common/grpc/keepalive';
import { loadTallyProto } from '@votemesh/common/grpc/load';
import type { Logger } from '@votemesh/common/logger';
import { readPollTally, type TallySnapshot } from './tally-read.ts';

export interface TallyServiceDeps {
  readonly prisma: PrismaClient;
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly windowSeconds: number;
}

export interface TallyService {
  readonly handlers: TallyServiceHandlers;
  /** Open WatchResults streams. */
  readonly watchers: number;
  /** Polls with at least one bus handler registered (should be those of the open streams). */
  readonly routedPolls: number;
  /** Ends every open WatchResults stream (clients see a clean end and reconnect elsewhere). */
  endWatchers(): void;
  close(): void;
}

export function createTallyService(deps: TallyServiceDeps): TallyService {
  const { logger } = deps;
  const router = createKeyedRouter(deps.bus, [keyedMessages('tally', (message) => message.pollId)], logger);
  /** Per open stream: read the poll's tally again and send it if it is newer than what was sent. */
  const resyncs = new Set<() => void>();
  // Tallies published while the bus was disconnected are lost; without this a stream would show
  // the older state until the poll's next commit (never, once voting has stopped).
  const stopGapWatch = router.onGap(() => {
    for (const resync of resyncs) resync();
  });
  const watchers = new Set<() => void>();

  async function getResults(pollId: string): Promise<TallySnapshot> {
    const snapshot = await readPollTally(deps.prisma, pollId, deps.windowSeconds);
    if (!snapshot) throw new VotemeshError('POLL_NOT_FOUND', `No poll has id "${pollId}"`);
    return snapshot;
  }

  const handlers: TallyServiceHandlers = {
    GetResults(call, callback: sendUnaryData<PollTally>) {
      validatePollId(call.request.poll_id)
        .then(getResults)
        .then(
          (snapshot) => callback(null, toPollTally(snapshot)),
          (error: unknown) => callback(toServiceError(error, logger)),
        );
    },
    WatchResults(call: ServerWritableStream<WatchResultsRequest__Output, PollTally>) {
      watch(call).catch((error: unknown) => {
        // grpc-js turns an 'error' event on a server stream into the call's status, then ends it.
        if (!call.cancelled) call.emit('error', toServiceError(error, logger));
      });
    },
  };

  async function watch(call: ServerWritableStream<WatchResultsRequest__Output, PollTally>): Promise<void> {
    const pollId = await validatePollId(call.request.poll_id);
    let lastVersion = -1;
    let queued: TallySnapshot | undefined;
    let draining = false;
    let unsubscribe: Unsubscribe | undefined;
    let ended = false;
    // Retried until it succeeds or the stream ends: a tally missed during the gap may be the poll's last.
    const reread = createGapReread({
      read: () => readPollTally(deps.prisma, pollId, deps.windowSeconds),
      apply: (snapshot) => snapshot && deliver(snapshot),
      onError: (error, retryInMs) => logger.warn({ err: error, pollId, retryInMs }, 're-reading a tally after a bus gap failed; retrying'),
    });
    const resync = (): void => reread.trigger();
    const end = (): void => {
      if (ended) return;
      ended = true;
      reread.stop();
      unsubscribe?.();
      watchers.delete(endStream);
      resyncs.delete(resync);
    };
    const endStream = (): void => {
      end();
      call.end();
    };
    const deliver = (tally: TallySnapshot): void => {
      if (ended || tally.version <= lastVersion) return;
      lastVersion = tally.version;
      if (draining) {
        queued = tally;
        return;
      }
      if (!call.write(toPollTally(tally))) draining = true;
    };
    call.on('drain', () => {
      draining = false;
      const next = queued;
      queued = undefined;
      if (next && !call.write(toPollTally(next))) draining = true;
    });
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);

    watchers.add(endStream);
    resyncs.add(resync);
    unsubscribe = await router.subscribe(pollId, (message: TallyUpdate) => deliver(message));
    // Ended while subscribing (cancelled, or endWatchers): end() ran with nothing to unsubscribe yet.
    if (ended) return unsubscribe();
    if (call.cancelled) return end();
    // Subscribed first, read second: an update committed meanwhile arrives either way, and the
    // version check keeps whichever of the two is newer.
    const snapshot = await readPollTally(deps.prisma, pollId, deps.windowSeconds);
    if (!snapshot) {
      end();
      throw new VotemeshError('POLL_NOT_FOUND', `No poll has id "${pollId}"`);
    }
    if (call.request.send_initial) deliver(snapshot);
    else lastVersion = Math.max(lastVersion, snapshot.version);
  }

  return {
    handlers,
    get watchers() {
      return watchers.size;
    },
    get routedPolls() {
      return router.size;
    },
    endWatchers() {
      for (const endStream of [...watchers]) endStream();
    },
    close() {
      this.endWatchers();
      stopGapWatch();
      router.close();
    },
  };
}

async function validatePollId(value: string): Promise<string> {
  if (value === '') throw new VotemeshError('BAD_USER_INPUT', 'poll_id is required');
  if (!UUID_PATTERN.test(value)) throw new VotemeshError('BAD_USER_INPUT', `poll_id must be a UUID, got "${value.slice(0, 64)}"`);
  return value.toLowerCase();
}

export function toPollTally(tally: TallySnapshot): PollTally {
  return {
    poll_id: tally.pollId,
    version: String(tally.version),
    total_votes: String(tally.totalVotes),
    options: tally.options.map((option) => ({ option_id: option.optionId, votes: String(option.votes) })),
    votes_per_second: tally.votesPerSecond,
    updated_at: tally.updatedAt,
    committed_at_ms: String(tally.committedAtMs),
    traceparent: tally.traceparent ?? '',
  };
}

/** The wire shape back into numbers (for clients of the service: tests, the result subgraph). */
export function fromPollTally(message: PollTally__Output): TallySnapshot {
  return {
    pollId: message.poll_id,
    version: Number(message.version),
    totalVotes: Number(message.total_votes),
    options: message.options.map((option) => ({ optionId: option.option_id, votes: Number(option.votes) })),
    votesPerSecond: message.votes_per_second,
    updatedAt: message.updated_at,
    committedAtMs: Number(message.committed_at_ms),
    ...(message.traceparent ? { traceparent: message.traceparent } : {}),
  };
}

/** A gRPC error from the registry: status from the code's entry, the code itself in metadata. */
function toServiceError(error: unknown, logger: Logger): ServiceError {
  const normalised = toVotemeshError(error);
  if (normalised.code === 'INTERNAL') logger.error({ err: error }, 'TallyService call failed');
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, normalised.code);
  const code: status = normalised.grpcStatus;
  return Object.assign(new Error(normalised.message), { code, details: normalised.message, metadata });
}

/** Trailing metadata naming the votemesh error code of a failed call. */
export const ERROR_CODE_METADATA = 'x-votemesh-error-code';

export interface TallyServer {
  readonly port: number;
  /** host:port a client can dial. */
  readonly address: string;
  readonly service: TallyService;
  /** Ends watch streams, waits up to `graceMs` for unary calls, then forces the rest. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

export interface TallyServerDeps extends TallyServiceDeps {
  readonly host: string;
  readonly port: number;
  /** Pings that drop result replicas gone without a FIN, ending their streams. @default DEFAULT_GRPC_KEEPALIVE */
  readonly keepalive?: GrpcKeepalive;
}

export async function startTallyServer(deps: TallyServerDeps): Promise<TallyServer> {
  const proto = loadTallyProto();
  const service = createTallyService(deps);
  const server = new Server(serverKeepaliveOptions(deps.keepalive));
  server.addService(proto.votemesh.tally.v1.TallyService.service, service.handlers);
  const port = await bindGrpcServer(server, deps.host, deps.port);
  const shownHost = deps.host === '0.0.0.0' || deps.host === '::' ? '127.0.0.1' : deps.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    address: `${shownHost}:${port}`,
    service,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        service.close();
        const fuse = setTimeout(() => {
          deps.logger.warn({ graceMs }, 'gRPC calls still open after the grace period; forcing shutdown');
          server.forceShutdown();
          resolve();
        }, graceMs);
        fuse.unref();
        server.tryShutdown(() => {
          clearTimeout(fuse);
          resolve();
        });
      });
      return closing;
    },
  };
}
