// The vote subgraph's Prometheus metrics, registered on the process registry (which also carries
// the default process metrics and the `service` label).
// votemesh_votes_total is the contract metric (common/src/telemetry/names.ts); the others are this
// subgraph's own diagnostics.
import { LATENCY_BUCKETS_SECONDS, METRICS } from '@votemesh/common/telemetry/names';
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
      help: 'Time castVote took from validation to the PENDING receipt, accepted or not.',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers: [registry],
    }),
    pollTransitions: new Counter({
      name: METRICS.pollTransitionsTotal.name,
      help: 'Poll lifecycle changes applied by this process, by new status and trigger (admin or schedule).',
      labelNames: ['status', 'trigger'],
      registers: [registry],
    }),
    pollCache: new Counter({
      name: METRICS.pollCacheLookupsTotal.name,
      help: "castVote's in-memory poll cache lookups, by result (hit or miss).",
      labelNames: ['result'],
      registers: [registry],
    }),
    subscriptions: new Gauge({
      name: METRICS.voteSubscriptions.name,
      help: 'Subscriptions currently served by this subgraph, by root field.',
      labelNames: ['field'],
      registers: [registry],
    }),
  };
}
