// A TCP relay between an AuditIngest client and the real server that can lose the connection on
// purpose: at once, or after forwarding a given number of further bytes toward the server (so the
// cut lands in the middle of a message). New connections after a cut flow normally.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface CuttingRelay extends AsyncDisposable {
  readonly address: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes forwarded from clients to the server so far. */
  readonly bytesToServer: number;
  /** Whether the last `cutAfter` has struck. */
  readonly cut: boolean;
  /** Destroys every open connection once `bytes` more have gone toward the server (0: now). */
  cutAfter(bytes: number): void;
}

export async function startCuttingRelay(target: string): Promise<CuttingRelay> {
  const [host = '127.0.0.1', port = '0'] = target.split(/:(?=\d+$)/);
  const pipes = new Set<{ readonly clientSide: Socket; readonly serverSide: Socket }>();
  let connections = 0;
  let bytesToServer = 0;
  /** Bytes still to forward before cutting; undefined when no cut is armed. */
  let budget: number | undefined;
  let cut = false;

  const cutAll = (): void => {
    budget = undefined;
    cut = true;
    for (const { clientSide, serverSide } of pipes) {
      clientSide.destroy();
      // end(), not destroy(): what was forwarded (half a message, say) still reaches the server.
      serverSide.end();
    }
  };

  const server = createServer((clientSide) => {
    connections += 1;
    const serverSide = connect(Number(port), host);
    const pipe = { clientSide, serverSide };
    pipes.add(pipe);
    for (const socket of [clientSide, serverSide]) {
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        pipes.delete(pipe);
        clientSide.destroy();
        serverSide.destroy();
      });
    }
    clientSide.on('data', (chunk: Buffer) => {
      if (serverSide.writableEnded) return;
      const forward = budget === undefined ? chunk : chunk.subarray(0, budget);
      bytesToServer += forward.length;
      serverSide.write(forward);
      if (budget === undefined) return;
      budget -= forward.length;
      if (budget <= 0) cutAll();
    });
    serverSide.on('data', (chunk: Buffer) => {
      if (!clientSide.destroyed) clientSide.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    get bytesToServer() {
      return bytesToServer;
    },
    get cut() {
      return cut;
    },
    cutAfter(bytes) {
      cut = false;
      if (bytes <= 0) cutAll();
      else budget = bytes;
    },
    async [Symbol.asyncDispose]() {
      for (const { clientSide, serverSide } of pipes) {
        clientSide.destroy();
        serverSide.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
