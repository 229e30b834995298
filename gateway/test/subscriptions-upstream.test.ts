// The upstream connector on its own, against subgraphs that misbehave at the socket level: down,
// refusing, or never answering. Whatever the subgraph does, the gateway process must live on and
// its subscriptions must end with UPSTREAM_UNAVAILABLE rather than hang.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { GraphQLFormattedError } from 'graphql';
import { WebSocketServer } from 'ws';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createUpstreamConnector, type UpstreamConnectorOptions } from '../src/subscriptions/upstream.ts';
import { captureLogs } from '@votemesh/common/testing/log-capture';

const TICKS = { query: 'subscription { ticks(room: "u1") { n } }', operationName: undefined, variables: {} };
const PUBLIC = { subgraph: 'counter', scope: 'public', identity: undefined } as const;
const ignore = { next: () => {}, error: () => {}, complete: () => {} };

/** A loopback port nothing listens on: a subgraph that is down. */
async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('upstream connector', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => process.off('unhandledRejection', onUnhandled));

  function connectorFor(port: number, logger: UpstreamConnectorOptions['logger'], overrides: Partial<UpstreamConnectorOptions> = {}) {
    return createUpstreamConnector({
      wsUrls: new Map([['counter', `ws://127.0.0.1:${port}/graphql`]]),
      signIdentity: async () => 'identity',
      logger,
      reconnectWindowMs: 30_000,
      maxBackoffMs: 50,
      keepAliveMs: 15_000,
      connectTimeoutMs: 10_000,
      ...overrides,
    });
  }

  describe('teardown while the subgraph is down', () => {
    it('survives the last subscriber leaving during a reconnect attempt', async () => {
      const { lines, logger } = captureLogs('gateway-test', 'debug');
      const connector = connectorFor(await deadPort(), logger);
      const unsubscribe = connector.subscribe(PUBLIC, TICKS, ignore);
      await waitFor(() => lines.some((line) => line['msg'] === 'subgraph subscription socket lost; reconnecting'), {
        what: 'the first connect attempt to fail',
      });
      unsubscribe();
      assert.equal(connector.socketCount(), 0);
      // dispose() settles when the pending attempt is denied; before the fix that was an unhandled rejection.
      await waitFor(() => unhandled.length > 0 || lines.some((line) => String(line['msg']).startsWith('subgraph subscription socket disposed')), {
        what: 'the pending connect attempt to settle',
      });
      assert.deepEqual(unhandled, []);
      await connector.close();
    });

    it('closes while a connect attempt is failing', async () => {
      const { lines, logger } = captureLogs('gateway-test', 'debug');
      const connector = connectorFor(await deadPort(), logger);
      connector.subscribe(PUBLIC, TICKS, ignore);
      await waitFor(() => lines.some((line) => line['msg'] === 'subgraph subscription socket lost; reconnecting'), {
        what: 'the first connect attempt to fail',
      });
      await connector.close();
      assert.equal(connector.socketCount(), 0);
      assert.deepEqual(unhandled, []);
    });
  });

  describe('a subgraph that never answers', () => {
    // Before connect attempts had deadlines, even close() waited on a hung attempt forever: the
    // timeout turns that into a failure instead of a stuck run.
    const bounded = { timeout: 8000 };
    /** Quick deadlines: the outcome must come within a couple of seconds, not hang forever. */
    const quick = { reconnectWindowMs: 500, maxBackoffMs: 50, keepAliveMs: 200, connectTimeoutMs: 200 };

    /** Subscribes and resolves with the errors the subscription ends with. */
    async function endingOf(port: number): Promise<readonly GraphQLFormattedError[]> {
      const connector = connectorFor(port, captureLogs('gateway-test', 'debug').logger, quick);
      let ended: readonly GraphQLFormattedError[] | undefined;
      connector.subscribe(PUBLIC, TICKS, {
        next: () => {},
        error: (errors) => {
          ended = errors;
        },
        complete: () => {
          ended = [];
        },
      });
      try {
        return await waitFor(() => ended, { what: 'the subscription to end', timeoutMs: 5000 });
      } finally {
        await connector.close();
      }
    }

    async function listening(server: net.Server | WebSocketServer): Promise<number> {
      if (!(server instanceof net.Server)) return (server.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      return (server.address() as net.AddressInfo).port;
    }

    it('ends with UPSTREAM_UNAVAILABLE when the WebSocket upgrade never completes', bounded, async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((socket) => sockets.add(socket)); // accepts TCP, never answers
      try {
        const errors = await endingOf(await listening(silent));
        assert.equal(errors[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
        assert.equal(errors[0]?.message, `Subgraph "counter" did not complete the WebSocket handshake for graphql-ws within ${quick.connectTimeoutMs} ms`);
      } finally {
        for (const socket of sockets) socket.destroy();
        silent.close();
      }
    });

    it('ends with UPSTREAM_UNAVAILABLE when connection_ack never comes', bounded, async () => {
      const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      try {
        const errors = await endingOf(await listening(server));
        assert.equal(errors[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
        assert.equal(errors[0]?.message, `Subgraph "counter" did not acknowledge the graphql-ws connection_init within ${quick.connectTimeoutMs} ms`);
      } finally {
        for (const client of server.clients) client.terminate();
        server.close();
      }
    });

    it('ends with UPSTREAM_UNAVAILABLE when an acknowledged socket goes silent (half-open)', bounded, async () => {
      // Acknowledges the first connection only, then answers nothing: no pong, no later ack, like a
      // subgraph host that vanished without closing its sockets.
      const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      let acknowledged = false;
      server.on('connection', (socket) => {
        socket.on('message', (data) => {
          if (acknowledged || (JSON.parse(data.toString()) as { type: string }).type !== 'connection_init') return;
          acknowledged = true;
          socket.send(JSON.stringify({ type: 'connection_ack' }));
        });
      });
      try {
        const errors = await endingOf(await listening(server));
        assert.ok(acknowledged, 'the first socket was acknowledged');
        assert.equal(errors[0]?.extensions?.['code'], 'UPSTREAM_UNAVAILABLE');
      } finally {
        for (const client of server.clients) client.terminate();
        server.close();
      }
    });
  });
});
