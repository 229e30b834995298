// Two tiny subgraphs that are not votemesh's (products + reviews), served for real on port 0 with
// @apollo/subgraph, so the gateway is tested as a general Federation 2 gateway. `products` can
// carry auth markers (`withAuth`) and reports what it received: the forwarded identity (verified
// with the shared secret), the raw identity header, the request id and the traceparent.
import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { parse, GraphQLError } from 'graphql';
import { createGraphQLHttpHandler } from '@votemesh/common/graphql-http';
import { createHttpServer, listen, sendJson } from '@votemesh/common/http-server';
import { IDENTITY_HEADER, identitySecretKey, verifyIdentity, type Identity } from '@votemesh/common/contracts/identity';
import { composeSupergraph } from '../../src/supergraph/compose.ts';

export const TEST_IDENTITY_SECRET = 'gateway-test-identity-secret-0123456789';

interface SubgraphContext {
  readonly headers: IncomingMessage['headers'];
  readonly identity: Identity | undefined;
}

export interface RunningSubgraph {
  readonly name: string;
  readonly url: string;
  readonly typeDefs: ReturnType<typeof parse>;
  readonly received: IncomingMessage['headers'][];
  close(): Promise<void>;
}

const PRODUCTS = [
  { upc: '1', name: 'Table', price: 899 },
  { upc: '2', name: 'Couch', price: 1299 },
  { upc: '3', name: 'Chair', price: 54 },
];
const REVIEWS: Record<string, { body: string; stars: number }[]> = {
  '1': [{ body: 'Love it!', stars: 5 }],
  '2': [
    { body: 'Too expensive.', stars: 2 },
    { body: 'Comfy.', stars: 4 },
  ],
  '3': [],
};

export function productsTypeDefs(withAuth: boolean): string {
  const authenticated = withAuth ? ' @authenticated' : '';
  const admin = withAuth ? ' @requiresScopes(scopes: [["admin"]])' : '';
  const imports = withAuth ? '["@key", "@authenticated", "@requiresScopes"]' : '["@key"]';
  return `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ${imports})
    type Product @key(fields: "upc") { upc: ID! name: String! price: Int! }
    type Viewer { subject: String! role: String! }
    type Query {
      topProducts(first: Int = 5): [Product!]!
      viewer: Viewer${authenticated}
      "The raw x-votemesh-identity header this subgraph received (null when none)."
      receivedIdentityHeader: String
      receivedRequestId: String
      receivedTraceparent: String
      failing: String
    }
    type Mutation { setPrice(upc: ID!, price: Int!): Product!${admin} }
  `;
}

export const REVIEWS_TYPE_DEFS = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Product @key(fields: "upc") { upc: ID! reviews: [Review!]! }
  type Review { body: String! stars: Int! }
`;

export async function startProductsSubgraph(options: { withAuth: boolean }): Promise<RunningSubgraph> {
  const header = (ctx: SubgraphContext, name: string): string | null => {
    const value = ctx.headers[name];
    return typeof value === 'string' ? value : null;
  };
  return startSubgraph('products', productsTypeDefs(options.withAuth), {
    Query: {
      topProducts: (_: unknown, args: { first: number }) => PRODUCTS.slice(0, args.first),
      viewer: (_: unknown, __: unknown, ctx: SubgraphContext) => ctx.identity ?? null,
      receivedIdentityHeader: (_: unknown, __: unknown, ctx: SubgraphContext) => header(ctx, IDENTITY_HEADER),
      receivedRequestId: (_: unknown, __: unknown, ctx: SubgraphContext) => header(ctx, 'x-request-id'),
      receivedTraceparent: (_: unknown, __: unknown, ctx: SubgraphContext) => header(ctx, 'traceparent'),
      failing: () => {
        throw new Error('database password is hunter2');
      },
    },
    Mutation: {
      setPrice: (_: unknown, args: { upc: string; price: number }, ctx: SubgraphContext) => {
        if (ctx.identity?.role !== 'admin') throw new GraphQLError('admin only', { extensions: { code: 'FORBIDDEN' } });
        const product = PRODUCTS.find((candidate) => candidate.upc === args.upc);
        if (!product) throw new GraphQLError('no such product', { extensions: { code: 'BAD_USER_INPUT' } });
        return { ...product, price: args.price };
      },
    },
    Product: { __resolveReference: (ref: { upc: string }) => PRODUCTS.find((product) => product.upc === ref.upc) },
  });
}

export function startReviewsSubgraph(): Promise<RunningSubgraph> {
  return startSubgraph('reviews', REVIEWS_TYPE_DEFS, {
    Product: {
      __resolveReference: (ref: { upc: string }) => ref,
      reviews: (product: { upc: string }) => REVIEWS[product.upc] ?? [],
    },
  });
}

async function startSubgraph(name: string, sdl: string, resolvers: GraphQLResolverMap<SubgraphContext>): Promise<RunningSubgraph> {
  const typeDefs = parse(sdl);
  const schema = buildSubgraphSchema({ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> });
  const server = new ApolloServer<SubgraphContext>({ schema, csrfPrevention: false, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  await server.start();
  const key = identitySecretKey(TEST_IDENTITY_SECRET);
  const received: IncomingMessage['headers'][] = [];
  const graphql = createGraphQLHttpHandler<SubgraphContext>({
    server,
    context: async (req) => {
      received.push(req.headers);
      const token = req.headers[IDENTITY_HEADER];
      const identity = typeof token === 'string' ? await verifyIdentity(key, token).catch(() => undefined) : undefined;
      return { headers: req.headers, identity };
    },
  });
  const http = createHttpServer(async (req, res) => {
    if (!(await graphql(req, res))) sendJson(res, 404, { error: 'not found' });
  });
  const running = await listen(http, 0, '127.0.0.1');
  return {
    name,
    url: `${running.url}/graphql`,
    typeDefs,
    received,
    async close() {
      await running.close();
      await server.stop();
    },
  };
}

/** Composes the test subgraphs; `urls` overrides where the supergraph says they live. */
export function composeTestSupergraph(subgraphs: readonly RunningSubgraph[], urls: Record<string, string> = {}): string {
  const result = composeSupergraph(subgraphs.map(({ name, url, typeDefs }) => ({ name, url: urls[name] ?? url, typeDefs })));
  if (!result.ok) throw new Error(result.problems.map((problem) => `${problem.code}: ${problem.message}`).join('\n'));
  return result.supergraphSdl;
}
