// The fan-out benchmark's baseline, run as its own process: a plain graphql-ws server
// (`graphql-ws/use/ws` + `ws`) that serves the same `pollResults` subscription WITHOUT
// deduplication — what a naive gateway does. Every client subscription opens its own upstream
// subscription on the result subgraph (multiplexed on one socket) and, for every event, fetches
// the poll's question and option labels from the vote subgraph (one HTTP request per subscriber
// per event), then executes the client's document on its own.
//
//   node --import tsx bench/src/naive-gateway.ts   env: RESULT_WS_URL, VOTE_HTTP_URL
// Prints one JSON line {"listening": <port>} on stdout.
import { createServer } from 'node:http';
import { buildSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { Pool } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';

const resultWsUrl = requiredEnv('RESULT_WS_URL');
const voteHttpUrl = new URL(requiredEnv('VOTE_HTTP_URL'));

const schema = buildSchema(`
  type Query { ok: Boolean }
  type Subscription { pollResults(pollId: ID!): PollResults! }
  type PollResults { committedAt: Float! totalVotes: Int! version: Int! options: [OptionResult!]! poll: Poll! }
  type OptionResult { votes: Int! share: Float! option: PollOption! }
  type PollOption { id: ID! label: String! }
  type Poll { id: ID! question: String! }
`);

const UPSTREAM = `subscription ($pollId: ID!) { pollResults(pollId: $pollId) { committedAt totalVotes version options { votes share option { id } } } }`;
const POLL_QUERY = `query ($id: ID!) { poll(id: $id) { id question options { id label } } }`;

interface UpstreamResults {
  readonly committedAt: number;
  readonly totalVotes: number;
  readonly version: number;
  readonly options: readonly { votes: number; share: number; option: { id: string } }[];
}
interface PollData {
  readonly id: string;
  readonly question: string;
  readonly options: readonly { id: string; label: string }[];
}

const upstream = createClient({ url: resultWsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
const votePool = new Pool(voteHttpUrl.origin, { connections: 64, pipelining: 1 });

async function fetchPoll(pollId: string): Promise<PollData> {
  const response = await votePool.request({
    method: 'POST',
    path: voteHttpUrl.pathname,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: POLL_QUERY, variables: { id: pollId } }),
  });
  const body = (await response.body.json()) as { data?: { poll: PollData | null } };
  if (!body.data?.poll) throw new Error(`poll ${pollId} not found in the vote subgraph`);
  return body.data.poll;
}

/** One client subscription: its own upstream iterator; per event, field resolvers that fetch. */
async function* pollResults(args: { pollId: string }): AsyncGenerator<{ pollResults: unknown }> {
  const events = upstream.iterate<{ pollResults: UpstreamResults }>({ query: UPSTREAM, variables: { pollId: args.pollId } });
  try {
    for await (const event of events) {
      const results = event.data?.pollResults;
      if (!results) throw new Error(`upstream error: ${JSON.stringify(event.errors)}`);
      // Resolved lazily by graphql-js (function-valued properties are called as resolvers);
      // one vote-subgraph request per event for this subscriber.
      let poll: Promise<PollData> | undefined;
      const loadPoll = (): Promise<PollData> => (poll ??= fetchPoll(args.pollId));
      yield {
        pollResults: {
          ...results,
          poll: async () => ({ id: args.pollId, question: (await loadPoll()).question }),
          options: results.options.map((option) => ({
            votes: option.votes,
            share: option.share,
            option: { id: option.option.id, label: async () => (await loadPoll()).options.find((candidate) => candidate.id === option.option.id)?.label ?? '' },
          })),
        },
      };
    }
  } finally {
    await events.return?.();
  }
}

const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, path: '/graphql', perMessageDeflate: false });
useServer({ schema, roots: { subscription: { pollResults } } }, wss);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const client of wss.clients) client.terminate();
    void upstream.dispose();
    void votePool.close();
    server.close(() => process.exit(0));
  });
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}
