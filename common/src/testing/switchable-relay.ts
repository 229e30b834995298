// A TCP relay to a real server (Redis, a gRPC service) that tests switch off and on: while down it
// accepts and at once resets every connection (as a dependency that is not there yet would look to
// a client that keeps retrying); `up()` makes new connections flow through. Its port stays the same
// throughout, so the process under test never needs reconfiguring.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface SwitchableRelay extends AsyncDisposable {
  /** host:port clients connect to. */
  readonly address: string;
  readonly port: number;
  up(): void;
  /** Resets every open connection and refuses new ones until `up()`. */
  down(): void;
}

export async function startSwitchableRelay(target: string, options: { up?: boolean } = {}): Promise<SwitchableRelay> {
  const [host = '127.0.0.1', port = '0'] = target.split(/:(?=\d+$)/);
  const open = new Set<Socket>();
  let isUp = options.up ?? false;
  const server = createServer((client) => {
    if (!isUp) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(port), host);
    open.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `127.0.0.1:${bound}`,
    port: bound,
    up() {
      isUp = true;
    },
    down() {
      isUp = false;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    async [Symbol.asyncDispose]() {
      isUp = false;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
