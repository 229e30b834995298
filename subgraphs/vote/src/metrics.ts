// The vote subgraph's Prometheus metrics, registered on the process registry (which also carries
// the default process metrics and the `service` label).
// votemesh_votes_total is the contract metric (common/src/telemetry/names.ts); the others are this
// subgraph's own diagnostics.
import { METRICS } from '@votemesh/common/telemetry/names';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface VoteMetrics {
  /** castVote outcomes: outcome=accepted|rejected, reason=none or the error code. */
  readonly votes: Counter<'outcome' | 'reason'>;
  readonly castVoteSeconds: Histogram;
  /** Poll lifecycle changes: status=DRAFT|OPEN|CLOSED, trigger=admin|schedule. */
  readonly pollTransitions: Counter<'status' | 'trigger'>;
  /** castVote's poll lookups: result=hit|miss. */
  readonly pollCache: Counter<'result'>;
  readonly subscriptions: Gauge<'field'>;
}

export function createVoteMetrics(registry: Registry): VoteMetrics {
  return {
    votes: new Counter({
      name: METRICS.votesTotal.name,
      help: METRICS.votesTotal.help,
      labelNames: ['outcome', 'reason'],
      registers: [registry],
    }),
    castVoteSeconds: new Histogram({
      name: METRICS.castVoteDurationSeconds.name,
      help: METRICS.castVoteDurationSeconds.help,
      buckets: [...METRICS.castVoteDurationSeconds.buckets],
      registers: [registry],
    }),
    pollTransitions: new Counter({
      name: METRICS.pollTransitionsTotal.name,
      help: METRICS.pollTransitionsTotal.help,
      labelNames: ['status', 'trigger'],
      registers: [registry],
    }),
    pollCache: new Counter({
      name: METRICS.pollCacheLookupsTotal.name,
      help: METRICS.pollCacheLookupsTotal.help,
      labelNames: ['result'],
      registers: [registry],
    }),
    subscriptions: new Gauge({
      name: METRICS.voteSubscriptions.name,
      help: METRICS.voteSubscriptions.help,
      labelNames: ['field'],
      registers: [registry],
    }),
  };
}
