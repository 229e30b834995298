// The GraphQL context of one request (HTTP) or one subscription (graphql-ws): the forwarded
// identity, the process-wide services, and per-request batch loaders.
import type { KeyedRouter } from '@votemesh/common/bus/keyed-router';
import type { PollStatusUpdate, ReceiptUpdate } from '@votemesh/common/contracts/bus';
import { requireIdentity, verifyIdentity, type Identity, type Role } from '@votemesh/common/contracts/identity';
import { toVotemeshError, type VotemeshError } from '@votemesh/common/errors';
import type { Logger } from '@votemesh/common/logger';
import { createBatchLoader, type BatchLoader } from './batch-loader.ts';
import { isUuid } from '@votemesh/common/graphql/ids';
import type { VoteMetrics } from './metrics.ts';
import type { PollService } from './polls/poll-service.ts';
import type { OptionRecord, PollRecord, PollStore } from './polls/poll-store.ts';
import type { ReceiptRecord, ReceiptStore } from './votes/receipt-store.ts';
import type { VoteService } from './votes/vote-service.ts';

/** Everything resolvers need, built once per process by server.ts. */
export interface VoteServices {
  readonly polls: PollService;
  readonly votes: VoteService;
  readonly store: PollStore;
  readonly receipts: ReceiptStore;
  readonly receiptEvents: KeyedRouter<ReceiptUpdate>;
  readonly pollStatusEvents: KeyedRouter<PollStatusUpdate>;
  readonly metrics: VoteMetrics;
  readonly logger: Logger;
}

export interface VoteLoaders {
  readonly poll: BatchLoader<PollRecord>;
  readonly option: BatchLoader<OptionRecord>;
  /** The caller's latest receipt, keyed by poll id (empty without an identity). */
  readonly myVote: BatchLoader<ReceiptRecord>;
  clearAll(): void;
}

/** The outcome of checking a forwarded identity: trusted, refused (with why), or absent. */
export type IdentityResult = { readonly identity: Identity } | { readonly identityError: VotemeshError } | Record<never, never>;

export type VoteContext = {
  readonly services: VoteServices;
  readonly loaders: VoteLoaders;
} & IdentityResult;

export async function checkIdentity(key: Uint8Array, token: string | undefined): Promise<IdentityResult> {
  if (token === undefined || token === '') return {};
  try {
    return { identity: await verifyIdentity(key, token) };
  } catch (error) {
    return { identityError: toVotemeshError(error) };
  }
}

export function createContext(services: VoteServices, identity: IdentityResult): VoteContext {
  return { services, loaders: createLoaders(services, 'identity' in identity ? identity.identity : undefined), ...identity };
}

/** The caller, or IDENTITY_MISSING (saying why a sent identity was refused) / FORBIDDEN. */
export function requireCaller(context: VoteContext, role?: Role): Identity {
  if ('identityError' in context) throw context.identityError;
  return requireIdentity('identity' in context ? context.identity : undefined, role);
}

function byId<T extends { readonly id: string }>(rows: readonly T[]): Map<string, T> {
  return new Map(rows.map((row) => [row.id, row]));
}

/** Each loader is made on first use: most operations (castVote above all) use none of them. */
function createLoaders(services: VoteServices, identity: Identity | undefined): VoteLoaders {
  let poll: BatchLoader<PollRecord> | undefined;
  let option: BatchLoader<OptionRecord> | undefined;
  let myVote: BatchLoader<ReceiptRecord> | undefined;
  return {
    // Malformed ids from entity representations simply resolve to null instead of failing the query.
    get poll() {
      poll ??= createBatchLoader(async (ids) => byId(await services.store.findByIds(ids.filter(isUuid).map((id) => id.toLowerCase()))));
      return poll;
    },
    get option() {
      option ??= createBatchLoader(async (ids) => byId(await services.store.findOptionsByIds(ids.filter(isUuid).map((id) => id.toLowerCase()))));
      return option;
    },
    get myVote() {
      myVote ??= createBatchLoader(async (pollIds) => (identity ? services.receipts.latestFor(identity.subject, pollIds) : new Map<string, ReceiptRecord>()));
      return myVote;
    },
    clearAll() {
      poll?.clearAll();
      option?.clearAll();
      myVote?.clearAll();
    },
  };
}
