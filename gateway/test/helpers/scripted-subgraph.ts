// A subgraph for transport tests: a real Node HTTP server on port 0 whose every answer the current
// test scripts, recording what it received and on which connection; and the options Apollo's
// executor passes a data source for one fetch.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildSchema, parse, type OperationDefinitionNode } from 'graphql';
import type { SubgraphCallContext } from '../../src/gateway-context.ts';
import type { SubgraphFetchOptions } from '../../src/upstream/subgraph-data-source.ts';

export interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: { query?: string; variables?: Record<string, unknown>; operationName?: string };
  /** Which connection (in accept order) carried the request. */
  readonly connection: number;
}

export type Answer = (request: Received, res: ServerResponse, socket: Socket) => void;

/** A subgraph whose every answer is scripted by the current test (`answer`). */
export interface ScriptedSubgraph {
  readonly url: string;
  readonly received: Received[];
  /** Connections the server has seen closed. */
  closedConnections(): number;
  answer: Answer;
  close(): Promise<void>;
}

export const json =
  (status: number, body: unknown): Answer =>
  (_request, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

export async function startScriptedSubgraph(configure: (server: Server) => void = () => {}): Promise<ScriptedSubgraph> {
  const received: Received[] = [];
  const sockets = new Map<Socket, number>();
  let closed = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'],
        connection: sockets.get(req.socket) ?? -1,
      };
      received.push(request);
      subgraph.answer(request, res, req.socket);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, sockets.size);
    socket.on('close', () => (closed += 1));
  });
  configure(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const subgraph: ScriptedSubgraph = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    received,
    closedConnections: () => closed,
    answer: json(200, { data: { ok: true } }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return subgraph;
}

export type IncomingFetch = Extract<SubgraphFetchOptions, { incomingRequestContext: unknown }>;

/** What Apollo's executor passes for one fetch of a client operation (or a subscription event). */
export function fetchOf(query: string, context: SubgraphCallContext, http?: Headers): IncomingFetch {
  const document = parse(query);
  const operation = document.definitions[0] as OperationDefinitionNode;
  const request = { query, variables: { a: 1 }, ...(http ? { http: { method: 'POST', url: '', headers: http } } : {}) };
  return {
    kind: 'incoming operation' as IncomingFetch['kind'],
    request,
    context,
    incomingRequestContext: {
      request,
      logger: console,
      schema: buildSchema('type Query { ok: Boolean }'),
      schemaHash: '' as IncomingFetch['incomingRequestContext']['schemaHash'],
      context,
      cache: { get: async () => undefined, set: async () => {}, delete: async () => true },
      queryHash: '',
      document,
      source: query,
      operationName: null,
      operation,
      metrics: {},
      overallCachePolicy: undefined,
    },
  };
}
