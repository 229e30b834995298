// The audit subgraph: { name, typeDefs, resolvers } for buildSubgraphSchema and for composition.
// Resolvers take the store and the live feed from the context, so this module has no state.
// Every field here is admin-only: the SDL says so with @requiresScopes (the gateway enforces it
// early) and each resolver enforces it again, because a subgraph trusts only itself.
import { readFileSync } from 'node:fs';
import { requireIdentity, type Identity } from '@votemesh/common/contracts/identity';
import { isUuid, parseId } from '@votemesh/common/graphql/ids';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { parse, type DocumentNode } from 'graphql';
import { DateTimeScalar } from '@votemesh/common/graphql/date-time';
import type { AuditFeed } from './feed.ts';
import { pageEvents } from './pagination.ts';
import type { AuditFilter, AuditStore, StoredEvent } from './store.ts';

export interface AuditServices {
  readonly store: AuditStore;
  readonly feed: AuditFeed;
}

export interface AuditContext {
  readonly identity?: Identity;
  readonly audit: AuditServices;
}

interface FilterInput {
  readonly pollId?: string | null;
  readonly action?: string | null;
  readonly actor?: string | null;
  readonly since?: Date | null;
}

interface PageArgs {
  readonly first: number;
  readonly after?: string | null;
}

export const typeDefs: DocumentNode = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

export function parseFilter(input: FilterInput | null | undefined): AuditFilter {
  if (!input) return {};
  const pollId = input.pollId ?? undefined;
  return {
    pollId: pollId === undefined ? undefined : parseId(pollId, 'filter.pollId'),
    action: input.action ?? undefined,
    actor: input.actor ?? undefined,
    since: input.since ?? undefined,
  };
}

export const resolvers = {
  DateTime: DateTimeScalar,
  Query: {
    auditLog(_root: unknown, args: PageArgs & { filter?: FilterInput | null }, context: AuditContext) {
      requireIdentity(context.identity, 'admin');
      return pageEvents(context.audit.store, parseFilter(args.filter), args.first, args.after);
    },
    async verifyAuditLog(_root: unknown, _args: unknown, context: AuditContext) {
      requireIdentity(context.identity, 'admin');
      const result = await context.audit.store.verify();
      return {
        ...result,
        firstBrokenSeq: result.firstBrokenSeq?.toString() ?? null,
        lastSeq: result.lastSeq?.toString() ?? null,
      };
    },
  },
  Poll: {
    __resolveReference(reference: { id: string }) {
      return { id: reference.id };
    },
    auditTrail(poll: { id: string }, args: PageArgs, context: AuditContext) {
      requireIdentity(context.identity, 'admin');
      // An entity key, not a client argument (the vote subgraph resolved the poll): a key that is
      // not a UUID cannot have events (poll_id is a uuid column).
      if (!isUuid(poll.id)) return { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };
      return pageEvents(context.audit.store, { pollId: poll.id.toLowerCase() }, args.first, args.after);
    },
  },
  AuditEvent: {
    seq: (event: StoredEvent) => event.seq.toString(),
    data: (event: StoredEvent) => JSON.stringify(event.data),
  },
  Subscription: {
    auditEvents: {
      subscribe(_root: unknown, args: { filter?: FilterInput | null }, context: AuditContext) {
        requireIdentity(context.identity, 'admin');
        return context.audit.feed.subscribe(parseFilter(args.filter));
      },
      resolve: (event: StoredEvent) => event,
    },
  },
} satisfies GraphQLResolverMap<AuditContext>;

export const name = 'audit';
export default { name, typeDefs, resolvers };
