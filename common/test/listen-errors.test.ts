// A listener that cannot bind for a reason a setting causes says so in the operator's one line,
// naming that setting, for HTTP (Node's error code) and gRPC (grpc-js says it in prose): a port
// another process holds, and a HOST that is not an address of this machine. (A privileged port,
// EACCES, needs a process without root: e2e/test/startup-failures.test.ts starts one.)
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Server } from '@grpc/grpc-js';
import { describe, it } from 'node:test';
import { bindGrpcServer } from '../src/grpc/bind.ts';
import { createHttpServer, listen } from '../src/http-server.ts';
import { ListenError, operatorMessage } from '../src/startup.ts';

/** TEST-NET-1 (RFC 5737): documentation only, never an address of this machine. */
const NOT_LOCAL = '192.0.2.1';

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
  it('HTTP: listen rejects with a ListenError naming PORT (or the variable given)', async () => {
    await withTakenPort(async (port) => {
      await assert.rejects(listen(createServer(), port, '127.0.0.1'), (error: unknown) => {
        assert.ok(error instanceof ListenError);
        assert.equal(error.variable, 'PORT');
        assert.equal(error.problem, 'EADDRINUSE');
        assert.equal(operatorMessage(error), `PORT=${port}: address 127.0.0.1:${port} already in use`);
        return true;
      });
      await assert.rejects(listen(createServer(), port, '127.0.0.1', 'METRICS_PORT'), /^ListenError: METRICS_PORT=/);
    });
  });

  it('gRPC: bindGrpcServer rejects with a ListenError naming GRPC_PORT', async () => {
    await withTakenPort(async (port) => {
      const server = new Server();
      await assert.rejects(bindGrpcServer(server, '127.0.0.1', port), (error: unknown) => {
        assert.ok(error instanceof ListenError);
        assert.equal(error.message, `GRPC_PORT=${port}: address 127.0.0.1:${port} already in use`);
        return true;
      });
      server.forceShutdown();
    });
  });
});

describe('a HOST that is not an address of this machine', () => {
  it('HTTP: listen rejects with a ListenError naming HOST and PORT', async () => {
    await assert.rejects(listen(createServer(), 4321, NOT_LOCAL), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.variable, 'HOST');
      assert.equal(error.problem, 'EADDRNOTAVAIL');
      assert.equal(operatorMessage(error), `HOST=${NOT_LOCAL}: cannot listen on ${NOT_LOCAL}:4321 (PORT=4321): not an address of this machine`);
      return true;
    });
  });

  it('gRPC: bindGrpcServer rejects with a ListenError naming HOST and GRPC_PORT', async () => {
    const server = new Server();
    await assert.rejects(bindGrpcServer(server, NOT_LOCAL, 4321), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.variable, 'HOST');
      assert.equal(error.message, `HOST=${NOT_LOCAL}: cannot listen on ${NOT_LOCAL}:4321 (GRPC_PORT=4321): not an address of this machine`);
      return true;
    });
    server.forceShutdown();
  });
});

describe('a HOST name that does not resolve', () => {
  // `.invalid` never resolves (RFC 2606).
  const UNKNOWN = 'no-such-host.invalid';

  it('HTTP: listen rejects with a ListenError naming HOST', async () => {
    await assert.rejects(listen(createServer(), 4321, UNKNOWN), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.variable, 'HOST');
      assert.equal(operatorMessage(error), `HOST=${UNKNOWN}: cannot listen on ${UNKNOWN}:4321 (PORT=4321): the name does not resolve`);
      return true;
    });
  });

  it('gRPC: bindGrpcServer rejects with a ListenError naming HOST and GRPC_PORT', async () => {
    const server = new Server();
    await assert.rejects(bindGrpcServer(server, UNKNOWN, 4321), (error: unknown) => {
      assert.ok(error instanceof ListenError);
      assert.equal(error.message, `HOST=${UNKNOWN}: cannot listen on ${UNKNOWN}:4321 (GRPC_PORT=4321): the name does not resolve`);
      return true;
    });
    server.forceShutdown();
  });
});
