// The vote subgraph module: `{ name, typeDefs, resolvers }` for buildSubgraphSchema and for
// supergraph composition. Resolvers stay thin: identity checks, argument parsing, then services.
import { readFileSync } from 'node:fs';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import type { PollStatus } from '@votemesh/common/contracts/bus';
import { VotemeshError } from '@votemesh/common/errors';
import { parse, type DocumentNode } from 'graphql';
import { requireCaller, type VoteContext } from './context.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { DateTimeScalar } from '@votemesh/common/graphql/date-time';
import { parseId } from '@votemesh/common/graphql/ids';
import type { CreatePollInput } from './polls/poll-input.ts';
import type { OptionRecord, PollRecord } from './polls/poll-store.ts';
import { watchPollStatus, watchReceipt, type PollStatusEvent } from './subscriptions.ts';
import type { ReceiptRecord } from './votes/receipt-store.ts';

export const name = 'vote';

export const typeDefs: DocumentNode = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

export const MAX_PAGE_SIZE = 100;

interface PollsArgs {
  readonly status?: PollStatus | null;
  readonly first?: number | null;
  readonly after?: string | null;
}

async function loadPoll(context: VoteContext, id: string): Promise<PollRecord> {
  const poll = await context.loaders.poll.load(id);
  if (!poll) throw new VotemeshError('POLL_NOT_FOUND', `No poll has id ${id}`);
  return poll;
}

async function loadOption(context: VoteContext, id: string): Promise<OptionRecord> {
  const option = await context.loaders.option.load(id);
  if (!option) throw new VotemeshError('INTERNAL', `Option ${id} of a receipt no longer exists`);
  return option;
}

/** Subscription payloads resolve with fresh loaders: one subscription context lives for many events. */
function freshEvent<T>(payload: T, _args: unknown, context: VoteContext): T {
  context.loaders.clearAll();
  return payload;
}

export const resolvers: GraphQLResolverMap<VoteContext> = {
  DateTime: DateTimeScalar,
  Query: {
    async polls(_source: unknown, args: PollsArgs, context: VoteContext) {
      const first = args.first ?? 20;
      if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
        throw new VotemeshError('BAD_USER_INPUT', `first must be between 1 and ${MAX_PAGE_SIZE}, got ${first}`, { details: { field: 'first' } });
      }
      const after = args.after ? decodeCursor(args.after, 'after') : undefined;
      const rows = await context.services.store.list({ status: args.status ?? undefined, limit: first + 1, after });
      const page = rows.slice(0, first);
      const edges = page.map((poll) => ({ cursor: encodeCursor(poll), node: poll }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
    },
    poll(_source: unknown, args: { id: string }, context: VoteContext) {
      return context.loaders.poll.load(parseId(args.id, 'id'));
    },
    voteReceipt(_source: unknown, args: { id: string }, context: VoteContext) {
      return context.services.votes.readReceipt(requireCaller(context), args.id);
    },
  },
  Mutation: {
    createPoll(_source: unknown, args: { input: CreatePollInput }, context: VoteContext) {
      return context.services.polls.create(requireCaller(context, 'admin'), args.input);
    },
    openPoll(_source: unknown, args: { id: string }, context: VoteContext) {
      const admin = requireCaller(context, 'admin');
      return context.services.polls.open(admin, parseId(args.id, 'id'));
    },
    closePoll(_source: unknown, args: { id: string }, context: VoteContext) {
      const admin = requireCaller(context, 'admin');
      return context.services.polls.close(admin, parseId(args.id, 'id'));
    },
    castVote(_source: unknown, args: { pollId: string; optionId: string }, context: VoteContext) {
      return context.services.votes.castVote(() => requireCaller(context), args.pollId, args.optionId);
    },
  },
  Subscription: {
    voteReceipt: {
      subscribe: (_source: unknown, args: { id: string }, context: VoteContext) => watchReceipt(context.services, requireCaller(context), args.id),
      resolve: freshEvent,
    },
    pollStatus: {
      subscribe: (_source: unknown, args: { pollId: string }, context: VoteContext) => watchPollStatus(context.services, args.pollId),
      resolve: freshEvent,
    },
  },
  Poll: {
    __resolveReference(reference: { id: string }, context: VoteContext) {
      return context.loaders.poll.load(reference.id.toLowerCase());
    },
    myVote(poll: PollRecord, _args: unknown, context: VoteContext) {
      requireCaller(context);
      return context.loaders.myVote.load(poll.id);
    },
  },
  PollOption: {
    __resolveReference(reference: { id: string }, context: VoteContext) {
      return context.loaders.option.load(reference.id.toLowerCase());
    },
    poll: (option: OptionRecord, _args: unknown, context: VoteContext) => loadPoll(context, option.pollId),
  },
  VoteReceipt: {
    poll: (receipt: ReceiptRecord, _args: unknown, context: VoteContext) => loadPoll(context, receipt.pollId),
    option: (receipt: ReceiptRecord, _args: unknown, context: VoteContext) => loadOption(context, receipt.optionId),
    reason: (receipt: ReceiptRecord) => receipt.reason ?? null,
  },
  PollStatusChange: {
    poll: (event: PollStatusEvent, _args: unknown, context: VoteContext) => loadPoll(context, event.pollId),
  },
};
