// The upstream connector on its own, against subgraphs that misbehave at the socket level: down,
// refusing, or never answering. Whatever the subgraph does, the gateway process must live on and
// its subscriptions must end with UPSTREAM_UNAVAILABLE rather than hang.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@votemesh/common/logger';
import { waitFor } from '@votemesh/common/testing/wait-for';
import { createUpstreamConnector, type UpstreamConnectorOptions } from '../src/subscriptions/upstream.ts';

const TICKS = { query: 'subscription { ticks(room: "u1") { n } }', operationName: undefined, variables: {} };
const PUBLIC = { subgraph: 'counter', scope: 'public', identity: undefined } as const;
const ignore = { next: () => {}, error: () => {}, complete: () => {} };

/** Lines the connector logged, parsed. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'gateway-test', level: 'debug', destination }) };
}

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
      ...overrides,
    });
  }

  describe('teardown while the subgraph is down', () => {
    it('survives the last subscriber leaving during a reconnect attempt', async () => {
      const { lines, logger } = capturingLogger();
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
      const { lines, logger } = capturingLogger();
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
});
