// The result subgraph's federated schema module: `{ name, typeDefs, resolvers }` for
// buildSubgraphSchema and for supergraph composition. Resolvers read their collaborators from the
// context (see context.ts), so this module holds no state.
import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { parse } from 'graphql';
import type { ResultContext } from './context.ts';
import { DateTimeScalar } from '@votemesh/common/graphql/date-time';
import type { OptionResult, PollResults } from './results.ts';

export const name = 'result';

export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

interface EntityRef {
  readonly id: string;
}

const pollRef = (id: string) => ({ __typename: 'Poll', id }) as const;
const optionRef = (id: string) => ({ __typename: 'PollOption', id }) as const;

export const resolvers = {
  DateTime: DateTimeScalar,
  Poll: {
    // Only the key is needed here; `results` loads lazily and batched, so entities resolved without
    // selecting `results` cost nothing.
    __resolveReference: (ref: EntityRef): EntityRef => ({ id: ref.id }),
    results: (poll: EntityRef, _args: unknown, context: ResultContext) => context.results.load(poll.id),
  },
  PollOption: {
    __resolveReference: (ref: EntityRef): EntityRef => ({ id: ref.id }),
  },
  PollResults: {
    poll: (results: PollResults) => pollRef(results.pollId),
    leaders: (results: PollResults) => results.leaders.map(optionRef),
    committedAt: (results: PollResults) => results.committedAtMs,
  },
  OptionResult: {
    option: (result: OptionResult) => optionRef(result.optionId),
  },
  Subscription: {
    pollResults: {
      subscribe: (_source: unknown, args: { pollId: string }, context: ResultContext) => context.live.subscribe(args.pollId),
      resolve: (results: PollResults, _args: unknown, context: ResultContext) => {
        context.pushed.record(results);
        return results;
      },
    },
  },
} satisfies GraphQLResolverMap<ResultContext>;

export default { name, typeDefs, resolvers };
