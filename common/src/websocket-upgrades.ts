// The WebSocket server of a subgraph's /graphql, fed the HTTP server's upgrades by hand. With
// `new WebSocketServer({ server })`, ws also listens to the HTTP server's 'error' event and re-emits
// it, so a port already in use reached graphql-ws's useServer, which prints it with a stack trace
// ("Internal error emitted on the WebSocket server"), before listen() could report it as the
// operator's one line (ListenError). In noServer mode ws sees only the upgrades.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';

/** A WebSocketServer for `httpServer`'s upgrades on `path` (others are refused 400, as ws does). */
export function createUpgradeServer(httpServer: Server, path: string): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, path });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  httpServer.on('upgrade', onUpgrade);
  wss.once('close', () => httpServer.off('upgrade', onUpgrade));
  return wss;
}
