// The option list of polls, read-only from `poll_options` (owned by the vote subgraph). The result
// subgraph needs only the ids in position order: every option is listed in PollResults, voted or not.
import type { PrismaClient } from '@votemesh/common/db/client';
import { isUuid } from '@votemesh/common/graphql/ids';

export interface PollOptionSource {
  /**
   * Option ids of each poll in position order, in ONE query for all `pollIds`. Polls that do not
   * exist (or ids that are not UUIDs) are absent from the map.
   */
  loadOptionIds(pollIds: readonly string[]): Promise<ReadonlyMap<string, readonly string[]>>;
}

export function createPrismaPollOptionSource(prisma: Pick<PrismaClient, 'pollOption'>): PollOptionSource {
  return {
    async loadOptionIds(pollIds) {
      const wanted = [...new Set(pollIds.filter(isUuid).map((id) => id.toLowerCase()))];
      const byPoll = new Map<string, string[]>();
      if (wanted.length === 0) return byPoll;
      const rows = await prisma.pollOption.findMany({
        where: { pollId: { in: wanted } },
        select: { id: true, pollId: true },
        orderBy: [{ pollId: 'asc' }, { position: 'asc' }],
      });
      for (const row of rows) {
        const list = byPoll.get(row.pollId);
        if (list) list.push(row.id);
        else byPoll.set(row.pollId, [row.id]);
      }
      // Answer under the id the caller asked with, whatever its letter case.
      const answer = new Map<string, readonly string[]>();
      for (const id of pollIds) {
        const options = byPoll.get(id.toLowerCase());
        if (options) answer.set(id, options);
      }
      return answer;
    },
  };
}
