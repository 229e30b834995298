// The `votes` entry layout vote subgraphs wrote before the single `vote` JSON field: one stream
// field per value. The worker still reads it (rolling upgrades), so tests still write it.
import type { VoteEntry } from '@votemesh/common/contracts/vote-entry';

export function encodeLegacyVoteEntry(entry: VoteEntry): string[] {
  const fields = ['receiptId', entry.receiptId, 'pollId', entry.pollId, 'optionId', entry.optionId, 'voterId', entry.voterId, 'castAt', entry.castAt];
  if (entry.traceparent) fields.push('traceparent', entry.traceparent);
  return fields;
}
