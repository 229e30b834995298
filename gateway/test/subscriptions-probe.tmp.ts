import { executeQueryPlan, buildOperationContext, RemoteGraphQLDataSource } from '@apollo/gateway';
import { QueryPlanner, prettyFormatQueryPlan } from '@apollo/query-planner';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
const gql = (s: TemplateStringsArray) => parse(s.join(''));
const counter = gql`
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@authenticated", "@requiresScopes"])
type Query { hello: String }
type Tick { n: Int! room: Room! secret: String @authenticated }
type Room @key(fields: "id", resolvable: false) { id: ID! }
type Subscription { ticks(room: ID!): Tick! adminTicks: Tick! @requiresScopes(scopes: [["admin"]]) }
`;
const rooms = gql`
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
type Room @key(fields: "id") { id: ID! name: String! }
type Query { room(id: ID!): Room }
`;
const r = composeServices([{ name: 'counter', typeDefs: counter, url: 'http://x/graphql' }, { name: 'rooms', typeDefs: rooms, url: 'http://y/graphql' }]);
if (r.errors) { console.log(r.errors); process.exit(1); }
console.log(r.supergraphSdl.slice(0, 1200));
const sg = Supergraph.build(r.supergraphSdl, { supportedFeatures: null });
const api = sg.apiSchema();
const qp = new QueryPlanner(sg);
const doc = parse(`subscription S($room: ID!) { ticks(room: $room) { n room { name } } }`);
const op = operationFromDocument(api, doc, { operationName: 'S' });
const plan = qp.buildQueryPlan(op);
console.log(prettyFormatQueryPlan(plan));
console.log(JSON.stringify(plan.node, (k, v) => k === 'operationDocumentNode' ? undefined : v, 2));
console.log(typeof executeQueryPlan, typeof buildOperationContext, typeof RemoteGraphQLDataSource);
