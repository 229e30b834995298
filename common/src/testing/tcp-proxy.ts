// A TCP proxy in front of a real server (Redis, PostgreSQL) that a test can cut and restore: cut()
// drops every connection through it and refuses new ones, as an outage or a network partition
// would, without disturbing the real server that other tests share. restore() listens again on
// the same port, so clients reconnect to the address they were given.
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy extends AsyncDisposable {
  readonly port: number;
  /** Closes every proxied connection and stops listening (new connections are refused). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
}

export async function startTcpProxy(target: { readonly host: string; readonly port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const createProxyServer = (): Server =>
    createServer((client) => {
      track(client);
      const upstream = connect(target.port, target.host);
      track(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  let server: Server | undefined = createProxyServer();
  const listen = (on: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      on.once('error', reject);
      on.listen(port, '127.0.0.1', () => resolve((on.address() as AddressInfo).port));
    });
  const port = await listen(server, 0);
  const cut = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  return {
    port,
    cut,
    async restore() {
      if (server) return;
      server = createProxyServer();
      await listen(server, port);
    },
    [Symbol.asyncDispose]: cut,
  };
}
