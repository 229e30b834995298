// gRPC keepalive (common/src/grpc/keepalive.ts) against real grpc-js servers and clients, through a
// TCP relay that can "partition" a connection: it stops forwarding bytes both ways and keeps both
// sockets open, so neither side ever sees a FIN or RST. Only pings can notice that, which is the
// point: a stream to a vanished peer must fail with UNAVAILABLE (and be reopened), while a healthy
// idle stream must survive many pings in both directions without a GOAWAY.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { ConfigError, DEFAULT_GRPC_KEEPALIVE, readGrpcKeepalive, type GrpcKeepalive } from '../src/config.ts';
import type { AuditEventDraft } from '../src/contracts/audit.ts';
import { createAuditClient } from '../src/grpc/audit-client.ts';
import type { AuditEventBatch__Output } from '../src/grpc/generated/votemesh/audit/v1/AuditEventBatch.ts';
import type { AuditEventInput, AuditEventInput__Output } from '../src/grpc/generated/votemesh/audit/v1/AuditEventInput.ts';
import type { AuditIngestClient, AuditIngestHandlers } from '../src/grpc/generated/votemesh/audit/v1/AuditIngest.ts';
import type { RecordSummary, RecordSummary__Output } from '../src/grpc/generated/votemesh/audit/v1/RecordSummary.ts';
import type { PollTally__Output } from '../src/grpc/generated/votemesh/tally/v1/PollTally.ts';
import type { TallyServiceClient, TallyServiceHandlers } from '../src/grpc/generated/votemesh/tally/v1/TallyService.ts';
import { clientKeepaliveOptions, serverKeepaliveOptions } from '../src/grpc/keepalive.ts';
import { loadAuditProto, loadTallyProto } from '../src/grpc/load.ts';
import { createLogger } from '../src/logger.ts';
import { waitFor } from '../src/testing/wait-for.ts';

const FAST: GrpcKeepalive = { timeMs: 200, timeoutMs: 200 };
const logger = createLogger({ service: 'grpc-keepalive-test', level: 'silent' });

// --- HTTP/2 frame counting, so the test can see pings and GOAWAYs on the wire -------------------

const CLIENT_PREFACE_LENGTH = 24;
const FRAME_HEADER_LENGTH = 9;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FLAG_ACK = 0x1;

interface FrameCounts {
  pings: number;
  pingAcks: number;
  goaways: number;
}

/** Reads HTTP/2 frame headers out of one direction of a connection, across chunk boundaries. */
function createFrameCounter(skipPreface: boolean): { readonly counts: FrameCounts; feed(chunk: Buffer): void } {
  const counts: FrameCounts = { pings: 0, pingAcks: 0, goaways: 0 };
  let toSkip = skipPreface ? CLIENT_PREFACE_LENGTH : 0;
  let pending = Buffer.alloc(0);
  return {
    counts,
    feed(chunk) {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (toSkip > 0) {
          const skipped = Math.min(toSkip, pending.length);
          pending = pending.subarray(skipped);
          toSkip -= skipped;
          if (toSkip > 0) return;
        }
        if (pending.length < FRAME_HEADER_LENGTH) return;
        const payloadLength = pending.readUIntBE(0, 3);
        const type = pending[3];
        const flags = pending[4] ?? 0;
        if (type === FRAME_PING) {
          if ((flags & FLAG_ACK) === 0) counts.pings += 1;
          else counts.pingAcks += 1;
        } else if (type === FRAME_GOAWAY) {
          counts.goaways += 1;
        }
        pending = pending.subarray(FRAME_HEADER_LENGTH);
        toSkip = payloadLength;
      }
    },
  };
}

// --- A TCP relay that can stop forwarding without closing anything ---------------------------

interface Pipe {
  readonly toServer: FrameCounts;
  readonly toClient: FrameCounts;
  /** Set when the server side closed the connection (it dropped the client). */
  serverClosed: boolean;
  frozen: boolean;
}

interface Relay {
  readonly address: string;
  readonly pipes: readonly Pipe[];
  /** Stops forwarding on every current connection, keeping its sockets open; new ones still flow. */
  freeze(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const pipes: Pipe[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((clientSide) => {
    const serverSide = connect(targetPort, '127.0.0.1');
    const toServer = createFrameCounter(true);
    const toClient = createFrameCounter(false);
    const pipe: Pipe = { toServer: toServer.counts, toClient: toClient.counts, serverClosed: false, frozen: false };
    pipes.push(pipe);
    for (const socket of [clientSide, serverSide]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    clientSide.on('data', (chunk: Buffer) => {
      if (pipe.frozen) return;
      toServer.feed(chunk);
      serverSide.write(chunk);
    });
    serverSide.on('data', (chunk: Buffer) => {
      if (pipe.frozen) return;
      toClient.feed(chunk);
      clientSide.write(chunk);
    });
    // A partition carries no FIN either: once frozen, a close on one side stays on that side.
    clientSide.on('close', () => {
      if (!pipe.frozen) serverSide.destroy();
    });
    serverSide.on('close', () => {
      pipe.serverClosed = true;
      if (!pipe.frozen) clientSide.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    pipes,
    freeze() {
      for (const pipe of pipes) pipe.frozen = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// --- Real servers: TallyService.WatchResults (server stream), AuditIngest.Record (client stream) --

interface TestServers {
  readonly port: number;
  /** Event ids AuditIngest has confirmed, once each. */
  readonly recorded: Set<string>;
  close(): Promise<void>;
}

async function startServers(keepalive: GrpcKeepalive): Promise<TestServers> {
  const recorded = new Set<string>();
  const tally: TallyServiceHandlers = {
    GetResults: (_call, callback) => callback({ code: status.UNIMPLEMENTED }),
    // Sends the current state, then stays open and silent, like a poll nobody votes in.
    WatchResults(call) {
      call.write({ poll_id: call.request.poll_id, version: '0', committed_at_ms: '0' });
    },
  };
  const summarize = (ids: readonly string[]): RecordSummary => {
    const fresh = ids.filter((id) => !recorded.has(id));
    for (const id of fresh) recorded.add(id);
    return { accepted: String(fresh.length), duplicates: String(ids.length - fresh.length), last_seq: String(recorded.size) };
  };
  const audit: AuditIngestHandlers = {
    Record(call, callback) {
      const ids: string[] = [];
      call.on('data', (event: AuditEventInput__Output) => ids.push(event.event_id));
      call.on('end', () => callback(null, summarize(ids)));
    },
    RecordBatch(call, callback) {
      const ids: string[] = [];
      call.on('data', (batch: AuditEventBatch__Output) => ids.push(...batch.events.map((event) => event.event_id)));
      call.on('end', () => callback(null, summarize(ids)));
    },
  };
  const server = new Server(serverKeepaliveOptions(keepalive));
  server.addService(loadTallyProto().votemesh.tally.v1.TallyService.service, tally);
  server.addService(loadAuditProto().votemesh.audit.v1.AuditIngest.service, audit);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    port,
    recorded,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };
}

function tallyClient(address: string, keepalive: GrpcKeepalive): TallyServiceClient {
  const { TallyService } = loadTallyProto().votemesh.tally.v1;
  return new TallyService(address, credentials.createInsecure(), clientKeepaliveOptions(keepalive));
}

function auditClient(address: string, keepalive: GrpcKeepalive): AuditIngestClient {
  const { AuditIngest } = loadAuditProto().votemesh.audit.v1;
  return new AuditIngest(address, credentials.createInsecure(), clientKeepaliveOptions(keepalive));
}

/** How a call ended, once it has: its status, or undefined while it is still open. */
interface Outcome {
  ended?: { readonly code: status; readonly details: string };
}

function watchOutcome(call: ClientReadableStream<PollTally__Output>): { outcome: Outcome; received: PollTally__Output[] } {
  const outcome: Outcome = {};
  const received: PollTally__Output[] = [];
  call.on('data', (message: PollTally__Output) => received.push(message));
  call.on('error', (error: ServiceError) => (outcome.ended ??= { code: error.code, details: error.details }));
  call.on('status', (end: { code: status; details: string }) => (outcome.ended ??= end));
  return { outcome, received };
}

function recordCall(client: AuditIngestClient): { call: ClientWritableStream<AuditEventInput>; outcome: Outcome } {
  const outcome: Outcome = {};
  const call = client.Record(new Metadata(), (error: ServiceError | null, _summary?: RecordSummary__Output) => {
    outcome.ended ??= error ? { code: error.code, details: error.details } : { code: status.OK, details: '' };
  });
  return { call, outcome };
}

function auditDraft(): AuditEventDraft {
  return { eventId: randomUUID(), at: new Date().toISOString(), actor: 'system:test', action: 'poll.created', subjectType: 'Poll', subjectId: randomUUID() };
}

// --- Tests ------------------------------------------------------------------------------------

describe('readGrpcKeepalive', () => {
  it('defaults to a 10 s interval and a 5 s timeout', () => {
    assert.deepEqual(readGrpcKeepalive({}), { timeMs: 10_000, timeoutMs: 5000 });
    assert.deepEqual(readGrpcKeepalive({}), DEFAULT_GRPC_KEEPALIVE);
  });

  it('reads GRPC_KEEPALIVE_TIME_MS and GRPC_KEEPALIVE_TIMEOUT_MS', () => {
    assert.deepEqual(readGrpcKeepalive({ GRPC_KEEPALIVE_TIME_MS: '30000', GRPC_KEEPALIVE_TIMEOUT_MS: ' 2000 ' }), { timeMs: 30_000, timeoutMs: 2000 });
  });

  const bad: [string, string, RegExp][] = [
    ['GRPC_KEEPALIVE_TIME_MS', '0', /GRPC_KEEPALIVE_TIME_MS must be at least 1, got 0/],
    ['GRPC_KEEPALIVE_TIME_MS', '-5', /GRPC_KEEPALIVE_TIME_MS must be at least 1/],
    ['GRPC_KEEPALIVE_TIME_MS', '1.5', /GRPC_KEEPALIVE_TIME_MS must be a whole number, got "1.5"/],
    ['GRPC_KEEPALIVE_TIME_MS', '10s', /GRPC_KEEPALIVE_TIME_MS must be a whole number, got "10s"/],
    ['GRPC_KEEPALIVE_TIME_MS', '3000000000', /GRPC_KEEPALIVE_TIME_MS must be at most 86400000/],
    ['GRPC_KEEPALIVE_TIMEOUT_MS', '0', /GRPC_KEEPALIVE_TIMEOUT_MS must be at least 1, got 0/],
    ['GRPC_KEEPALIVE_TIMEOUT_MS', 'soon', /GRPC_KEEPALIVE_TIMEOUT_MS must be a whole number, got "soon"/],
  ];
  for (const [variable, value, message] of bad) {
    it(`rejects ${variable}=${value} naming the variable`, () => {
      assert.throws(
        () => readGrpcKeepalive({ [variable]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === variable && message.test(error.message),
      );
    });
  }
});

describe('keepalive options', () => {
  it('let clients ping idle connections, and servers admit pings at the clients’ pace', () => {
    for (const keepalive of [DEFAULT_GRPC_KEEPALIVE, FAST, { timeMs: 1, timeoutMs: 1 }]) {
      const client = clientKeepaliveOptions(keepalive);
      const server = serverKeepaliveOptions(keepalive);
      assert.equal(client['grpc.keepalive_time_ms'], keepalive.timeMs);
      assert.equal(client['grpc.keepalive_timeout_ms'], keepalive.timeoutMs);
      assert.equal(client['grpc.keepalive_permit_without_calls'], 1);
      assert.equal(server['grpc.keepalive_permit_without_calls'], 1);
      assert.equal(server['grpc.keepalive_time_ms'], keepalive.timeMs);
      assert.equal(server['grpc.keepalive_timeout_ms'], keepalive.timeoutMs);
      for (const policy of ['grpc.http2.min_ping_interval_without_data_ms', 'grpc.http2.min_time_between_pings_ms']) {
        const floor: unknown = server[policy];
        assert.ok(
          typeof floor === 'number' && floor >= 1 && floor <= keepalive.timeMs,
          `${policy} = ${String(floor)} admits pings every ${keepalive.timeMs} ms`,
        );
      }
    }
  });
});

describe('gRPC keepalive over a real connection', () => {
  let servers: TestServers;

  before(async () => {
    servers = await startServers(FAST);
  });

  after(async () => {
    await servers.close();
  });

  it('keeps a healthy idle stream open over many pings both ways, with no GOAWAY', async () => {
    const relay = await startRelay(servers.port);
    const client = tallyClient(relay.address, FAST);
    try {
      const { outcome, received } = watchOutcome(client.WatchResults({ poll_id: randomUUID(), send_initial: true }));
      await waitFor(() => received.length === 1, { timeoutMs: 5000, what: 'the initial tally' });
      const pipe = relay.pipes[0];
      assert.ok(pipe, 'the client connected through the relay');
      const pingsAtStart = pipe.toServer.pings;
      // Eight client pings at 200 ms: well past the point where a ping policy would strike.
      await waitFor(() => outcome.ended !== undefined || (pipe.toServer.pings >= pingsAtStart + 8 && pipe.toClient.pings >= 4), {
        timeoutMs: 10_000,
        what: '8 client and 4 server pings while the stream is idle',
      });
      assert.equal(outcome.ended, undefined, `the idle stream is still open (it ended with ${JSON.stringify(outcome.ended)})`);
      assert.equal(pipe.toClient.goaways, 0, 'the server sent no GOAWAY (too_many_pings)');
      assert.ok(pipe.toServer.pingAcks >= 3, `the client answered the server’s pings (${pipe.toServer.pingAcks} acks)`);
      assert.ok(
        pipe.toClient.pingAcks >= pipe.toServer.pings - 1,
        `the server answered the client’s pings (${pipe.toClient.pingAcks} of ${pipe.toServer.pings})`,
      );
      assert.equal(relay.pipes.length, 1, 'one connection throughout');
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('fails a server stream (WatchResults) with UNAVAILABLE when the peer goes silent without a FIN', async () => {
    const relay = await startRelay(servers.port);
    const client = tallyClient(relay.address, FAST);
    try {
      const { outcome, received } = watchOutcome(client.WatchResults({ poll_id: randomUUID(), send_initial: true }));
      await waitFor(() => received.length === 1, { timeoutMs: 5000, what: 'the initial tally' });
      relay.freeze();
      const frozenAt = Date.now();
      const ended = await waitFor(() => outcome.ended, { timeoutMs: 5000, what: 'the stream to fail after the partition' });
      assert.equal(ended.code, status.UNAVAILABLE, `ended with ${status[ended.code]}: ${ended.details}`);
      // Interval + timeout (400 ms) plus scheduling slack; without keepalive it would never end.
      assert.ok(Date.now() - frozenAt < 3000, `noticed in ${Date.now() - frozenAt} ms`);
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('fails a client stream (AuditIngest.Record) with UNAVAILABLE when the peer goes silent without a FIN', async () => {
    const relay = await startRelay(servers.port);
    const client = auditClient(relay.address, FAST);
    try {
      const { call, outcome } = recordCall(client);
      const draft = auditDraft();
      call.write({
        event_id: draft.eventId,
        at: draft.at,
        actor: draft.actor,
        action: draft.action,
        subject_type: draft.subjectType,
        subject_id: draft.subjectId,
      });
      await waitFor(() => (relay.pipes[0]?.toServer.pings ?? 0) >= 1, { timeoutMs: 5000, what: 'the connection to carry a ping' });
      relay.freeze();
      const ended = await waitFor(() => outcome.ended, { timeoutMs: 5000, what: 'the call to fail after the partition' });
      assert.equal(ended.code, status.UNAVAILABLE, `ended with ${status[ended.code]}: ${ended.details}`);
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('lets the server drop a client that went silent, ending its stream there too', async () => {
    const relay = await startRelay(servers.port);
    // The client pings rarely, so only the server's own pings can notice the partition.
    const client = tallyClient(relay.address, { timeMs: 60_000, timeoutMs: 60_000 });
    try {
      const { received } = watchOutcome(client.WatchResults({ poll_id: randomUUID(), send_initial: true }));
      await waitFor(() => received.length === 1, { timeoutMs: 5000, what: 'the initial tally' });
      relay.freeze();
      const pipe = relay.pipes[0];
      await waitFor(() => pipe?.serverClosed, { timeoutMs: 5000, what: 'the server to close the silent connection' });
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('lets the audit client resend what a dead connection swallowed, over a new one', async () => {
    const relay = await startRelay(servers.port);
    // A long call deadline, so only keepalive can fail the stuck call within the test's bound.
    const audit = createAuditClient({
      address: relay.address,
      logger,
      source: 'test',
      keepalive: FAST,
      callDeadlineMs: 120_000,
      rotateEveryMs: 50,
      backoffInitialMs: 20,
    });
    try {
      const first = auditDraft();
      audit.record(first);
      await audit.flush(5000);
      assert.ok(servers.recorded.has(first.eventId));
      relay.freeze();
      const second = auditDraft();
      audit.record(second);
      await audit.flush(5000);
      assert.ok(servers.recorded.has(second.eventId), 'the event sent into the partition arrived over a new connection');
      assert.ok(audit.stats().callsFailed >= 1, 'the stuck call failed');
      assert.ok(relay.pipes.length >= 2, 'the client opened a new connection');
      assert.equal(audit.stats().buffered, 0);
    } finally {
      await audit.close();
      await relay.close();
    }
  });
});
