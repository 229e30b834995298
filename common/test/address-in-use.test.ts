// A listener whose port another process holds says so in the operator's one line, naming the
// setting that chose the port, for HTTP (Node's EADDRINUSE) and gRPC (grpc-js says it in prose).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Server } from '@grpc/grpc-js';
import { describe, it } from 'node:test';
import { bindGrpcServer } from '../src/grpc/bind.ts';
import { createHttpServer, listen } from '../src/http-server.ts';
import { AddressInUseError, operatorMessage } from '../src/startup.ts';

async function withTakenPort(run: (port: number) => Promise<void>): Promise<void> {
  const holder = await listen(
    createHttpServer(() => undefined),
    0,
    '127.0.0.1',
  );
  try {
    await run(holder.port);
  } finally {
    await holder.close();
  }
}

describe('a port already in use', () => {
  it('HTTP: listen rejects with AddressInUseError naming PORT (or the variable given)', async () => {
    await withTakenPort(async (port) => {
      await assert.rejects(listen(createServer(), port, '127.0.0.1'), (error: unknown) => {
        assert.ok(error instanceof AddressInUseError);
        assert.equal(error.variable, 'PORT');
        assert.equal(operatorMessage(error), `PORT=${port}: address 127.0.0.1:${port} already in use`);
        return true;
      });
      await assert.rejects(listen(createServer(), port, '127.0.0.1', 'METRICS_PORT'), /^AddressInUseError: METRICS_PORT=/);
    });
  });

  it('gRPC: bindGrpcServer rejects with AddressInUseError naming GRPC_PORT', async () => {
    await withTakenPort(async (port) => {
      const server = new Server();
      await assert.rejects(bindGrpcServer(server, '127.0.0.1', port), (error: unknown) => {
        assert.ok(error instanceof AddressInUseError);
        assert.equal(error.message, `GRPC_PORT=${port}: address 127.0.0.1:${port} already in use`);
        return true;
      });
      server.forceShutdown();
    });
  });
});
