// The result subgraph's side of TallyService (proto/tally.proto): a unary read with a deadline, a
// server stream per poll, and a readiness probe of the channel. gRPC failures become registry
// errors here, and every PollTally is parsed at this edge into a TallySnapshot with plain numbers.
import { credentials, Metadata, status as GrpcCode, type ServiceError, connectivityState } from '@grpc/grpc-js';
import type { GrpcKeepalive } from '@votemesh/common/config';
import { VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { clientKeepaliveOptions } from '@votemesh/common/grpc/keepalive';
import { loadTallyProto } from '@votemesh/common/grpc/load';
import type { PollTally__Output } from '@votemesh/common/grpc/generated/votemesh/tally/v1/PollTally';
import type { TallyServiceClient } from '@votemesh/common/grpc/generated/votemesh/tally/v1/TallyService';
import type { TallySnapshot } from './results.ts';

export type { TallyServiceClient };

export interface WatchHandlers {
  onTally(tally: TallySnapshot): void;
  /** The stream ended or failed; never called after `cancel()`. */
  onEnd(error: Error | undefined): void;
}

export interface TallyWatch {
  cancel(): void;
}

/** What the rest of the subgraph needs from the tally service; tests may pass a fake. */
export interface TallySource {
  getResults(pollId: string): Promise<TallySnapshot>;
  watchResults(pollId: string, handlers: WatchHandlers): TallyWatch;
  /** Resolves once the channel is connected, rejects when it cannot connect within `timeoutMs`. */
  checkReady(timeoutMs: number): Promise<void>;
}

export interface TallySourceOptions {
  /** Where the client points, for logs and readiness messages (never for clients). */
  readonly address: string;
  /** Deadline of one GetResults call. @default 2000 */
  readonly deadlineMs?: number;
  /** Where a failed GetResults is logged with its gRPC status, details and the address. */
  readonly logger: Pick<Logger, 'warn'>;
}

/** `keepalive` pings the worker, so a WatchResults stream to a vanished one fails (and is reopened) instead of hanging. */
export function createTallyServiceClient(address: string, keepalive?: GrpcKeepalive): TallyServiceClient {
  const { TallyService } = loadTallyProto().votemesh.tally.v1;
  return new TallyService(address, credentials.createInsecure(), {
    ...clientKeepaliveOptions(keepalive),
    // Reconnect to a restarted worker quickly; the defaults back off up to two minutes.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5000,
  });
}

export function createTallySource(client: TallyServiceClient, options: TallySourceOptions): TallySource {
  const deadlineMs = options.deadlineMs ?? 2000;
  return {
    getResults(pollId) {
      return new Promise((resolve, reject) => {
        client.GetResults({ poll_id: pollId }, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
          if (error) {
            const failure = toUpstreamError(error, pollId);
            if (failure.code !== 'POLL_NOT_FOUND') logFailure(options, 'GetResults', pollId, error);
            return reject(failure);
          }
          if (!response) return reject(new VotemeshError('UPSTREAM_ERROR', 'Tally service answered GetResults without a message'));
          try {
            resolve(parsePollTally(response));
          } catch (parseError) {
            reject(parseError);
          }
        });
      });
    },
    watchResults(pollId, handlers) {
      let cancelled = false;
      let ended = false;
      const call = client.WatchResults({ poll_id: pollId, send_initial: true });
      const end = (error: Error | undefined): void => {
        if (cancelled || ended) return;
        ended = true;
        handlers.onEnd(error);
      };
      call.on('data', (message: PollTally__Output) => {
        if (cancelled || ended) return;
        let tally: TallySnapshot;
        try {
          tally = parsePollTally(message);
        } catch (error) {
          call.cancel();
          return end(error instanceof Error ? error : new Error(String(error)));
        }
        handlers.onTally(tally);
      });
      // Logged by the watcher (live-results.ts) when it reconnects: the error's cause has the details.
      call.on('error', (error: ServiceError) => end(toUpstreamError(error, pollId)));
      call.on('end', () => end(undefined));
      return {
        cancel() {
          if (cancelled) return;
          cancelled = true;
          call.cancel();
        },
      };
    },
    checkReady(timeoutMs) {
      const state = client.getChannel().getConnectivityState(true);
      if (state === connectivityState.READY) return Promise.resolve();
      // The last connection attempt failed: answer now instead of waiting out the timeout.
      if (state === connectivityState.TRANSIENT_FAILURE) {
        return Promise.reject(new Error(`tally service at ${options.address} is not reachable (connection failed)`));
      }
      return new Promise((resolve, reject) => {
        client.waitForReady(Date.now() + timeoutMs, (error) => {
          if (error) reject(new Error(`tally service at ${options.address} is not reachable: ${error.message}`));
          else resolve();
        });
      });
    },
  };
}

/**
 * What a client may learn of a failed call: the registry code and a message written for them. The
 * gRPC status, its details (which name the worker's address: "connect ECONNREFUSED 10.0.3.7:50051")
 * and the address stay in the cause, for logs and traces only.
 */
function toUpstreamError(error: ServiceError, pollId: string): VotemeshError {
  switch (error.code) {
    case GrpcCode.NOT_FOUND:
      return new VotemeshError('POLL_NOT_FOUND', `No poll has id ${pollId}`, { cause: error });
    case GrpcCode.UNAVAILABLE:
    case GrpcCode.DEADLINE_EXCEEDED:
      return new VotemeshError('UPSTREAM_UNAVAILABLE', 'Live results are temporarily unavailable; retry later', { cause: error });
    default:
      return new VotemeshError('UPSTREAM_ERROR', 'Live results could not be read because of an internal failure; retry later', { cause: error });
  }
}

function logFailure(options: TallySourceOptions, call: string, pollId: string, error: ServiceError): void {
  options.logger.warn(
    { pollId, address: options.address, grpcStatus: GrpcCode[error.code] ?? error.code, details: error.details },
    `tally service ${call} failed`,
  );
}

const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function readCount(value: string, field: string): number {
  if (!/^\d+$/.test(value)) throw new VotemeshError('INVALID_MESSAGE', `PollTally.${field} must be a non-negative integer, got "${value}"`);
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new VotemeshError('INVALID_MESSAGE', `PollTally.${field} is too large: ${value}`);
  return parsed;
}

/** Parses a PollTally from the wire (int64 fields arrive as decimal strings); names the bad field. */
export function parsePollTally(message: PollTally__Output): TallySnapshot {
  if (message.poll_id === '') throw new VotemeshError('INVALID_MESSAGE', 'PollTally.poll_id is empty');
  const votesPerSecond = message.votes_per_second;
  if (!Number.isFinite(votesPerSecond) || votesPerSecond < 0) {
    throw new VotemeshError('INVALID_MESSAGE', `PollTally.votes_per_second must be a non-negative number, got ${votesPerSecond}`);
  }
  if (message.updated_at !== '' && Number.isNaN(Date.parse(message.updated_at))) {
    throw new VotemeshError('INVALID_MESSAGE', `PollTally.updated_at must be ISO-8601, got "${message.updated_at}"`);
  }
  return {
    pollId: message.poll_id,
    version: readCount(message.version, 'version'),
    options: message.options.map((entry, index) => {
      if (entry.option_id === '') throw new VotemeshError('INVALID_MESSAGE', `PollTally.options[${index}].option_id is empty`);
      return { optionId: entry.option_id, votes: readCount(entry.votes, `options[${index}].votes`) };
    }),
    votesPerSecond,
    updatedAt: message.updated_at === '' ? undefined : new Date(message.updated_at).toISOString(),
    committedAtMs: readCount(message.committed_at_ms, 'committed_at_ms'),
    // Telemetry only: a malformed value is dropped, never an error.
    ...(TRACEPARENT_FORMAT.test(message.traceparent) ? { traceparent: message.traceparent } : {}),
  };
}
