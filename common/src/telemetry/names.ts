// The one module of telemetry names: tracers, spans, span attributes and every Prometheus metric
// the processes export. Business code imports names from here (never spells them inline), the
// dashboard and alert rules are linted against METRICS (observability/lint.ts), and
// docs/observability.md describes the same table.
//
// Attribute keys follow the OpenTelemetry semantic conventions: stable keys are imported from
// @opentelemetry/semantic-conventions; incubating ones (messaging.*, graphql.*, rpc.service) are
// copied here as strings, as that package recommends, so a semconv release can't move them under us.
import {
  ATTR_ERROR_TYPE,
  ATTR_RPC_METHOD,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_NAMESPACE,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';

/** The value of `service.namespace` on every process's resource. */
export const SERVICE_NAMESPACE = 'votemesh';

/** The processes, by the name they report as `service.name` (and the `service` metric label). */
export const SERVICE_NAMES = {
  gateway: 'votemesh-gateway',
  vote: 'votemesh-vote',
  result: 'votemesh-result',
  audit: 'votemesh-audit',
  worker: 'votemesh-worker',
} as const;
export type ServiceKey = keyof typeof SERVICE_NAMES;

/** Instrumentation scope names: `trace.getTracer(TRACER_NAMES.worker)`. */
export const TRACER_NAMES = {
  gateway: '@votemesh/gateway',
  vote: '@votemesh/vote',
  result: '@votemesh/result',
  audit: '@votemesh/audit',
  worker: '@votemesh/worker',
  common: '@votemesh/common',
} as const satisfies Record<ServiceKey | 'common', string>;

/** Meter scope names, for code that records through the OpenTelemetry metrics API. */
export const METER_NAMES = TRACER_NAMES;

/** The Redis stream every vote goes through (`messaging.destination.name`). */
export const VOTES_DESTINATION = 'votes';
/** The worker's consumer group on that stream (`messaging.consumer.group.name`). */
export const VOTES_CONSUMER_GROUP = 'tally';

/** HTTP header carrying the request id end to end (gateway assigns one when the client did not). */
export const REQUEST_ID_HEADER = 'x-request-id';
/**
 * Key in a GraphQL `ExecutionResult.extensions` map carrying the W3C traceparent of the span that
 * produced a subscription event, so the next hop (subgraph → gateway over graphql-ws, which has
 * no per-message headers) can continue the trace. Strip it before the event reaches a client.
 */
export const TRACEPARENT_EXTENSION = 'traceparent';

/** Span names for the spans votemesh creates itself (auto-instrumentation names the rest). */
export const SPAN_NAMES = {
  /** Vote subgraph: validate + enqueue one vote (child of the GraphQL resolve span). */
  castVote: 'vote.cast',
  /** Vote subgraph: XADD to `votes` (messaging producer span; its context goes in the entry). */
  votesSend: 'send votes',
  /**
   * Worker: one batch of stream entries applied in one PostgreSQL transaction — the messaging
   * `process` of the batch: its own trace, LINKS to every entry's traceparent (≤ 64).
   */
  tallyApplyBatch: 'tally.apply_batch',
  /** EventBus PUBLISH inside a traced operation (producer span; `createRedisEventBus`). */
  busSend: 'send bus',
  /** EventBus: handling one received message that carries a traceparent (consumer span, child of it). */
  busProcess: 'process bus',
  /** Any subscription source pushing one event to its subscribers (result subgraph, gateway). */
  subscriptionEvent: 'graphql.subscription.event',
  /**
   * Gateway: starting one client subscription (any transport) — plan, auth policy, variables, joining
   * or opening its upstream; ends when it is started or refused, never lasts the subscription's life.
   * Child of the client's trace context; the upstream span it opens links to it.
   */
  subscriptionStart: 'gateway.subscription.start',
  /** Gateway: one upstream subscription event fanned out to its downstream clients. */
  subscriptionFanout: 'gateway.subscription.fanout',
  /**
   * Gateway: one deduplicated upstream subscription to a subgraph, for its whole life (client
   * span, the root of its own trace linking to the subscription that opened it; its context goes
   * to the subgraph in the graphql-ws `subscribe` message's extensions).
   */
  upstreamSubscribe: 'gateway.upstream.subscribe',
  /** Audit subgraph: appending one hash-chained batch (one transaction). */
  auditAppendBatch: 'audit.append_batch',
} as const;
export type SpanName = (typeof SPAN_NAMES)[keyof typeof SPAN_NAMES];

/** Span attribute keys. */
export const ATTR = {
  // stable semconv
  SERVICE_NAME: ATTR_SERVICE_NAME,
  SERVICE_NAMESPACE: ATTR_SERVICE_NAMESPACE,
  SERVICE_VERSION: ATTR_SERVICE_VERSION,
  ERROR_TYPE: ATTR_ERROR_TYPE,
  RPC_SYSTEM_NAME: ATTR_RPC_SYSTEM_NAME,
  RPC_METHOD: ATTR_RPC_METHOD,
  // incubating semconv, copied
  GRAPHQL_OPERATION_NAME: 'graphql.operation.name',
  GRAPHQL_OPERATION_TYPE: 'graphql.operation.type',
  MESSAGING_SYSTEM: 'messaging.system',
  MESSAGING_DESTINATION_NAME: 'messaging.destination.name',
  MESSAGING_DESTINATION_TEMPLATE: 'messaging.destination.template',
  MESSAGING_OPERATION_NAME: 'messaging.operation.name',
  MESSAGING_OPERATION_TYPE: 'messaging.operation.type',
  MESSAGING_MESSAGE_ID: 'messaging.message.id',
  MESSAGING_BATCH_MESSAGE_COUNT: 'messaging.batch.message_count',
  MESSAGING_CONSUMER_GROUP_NAME: 'messaging.consumer.group.name',
  MESSAGING_CLIENT_ID: 'messaging.client.id',
  RPC_SYSTEM: 'rpc.system',
  RPC_SERVICE: 'rpc.service',
  RPC_GRPC_STATUS_CODE: 'rpc.grpc.status_code',
  HTTP_REQUEST_ID: `http.request.header.${REQUEST_ID_HEADER}`,
  // votemesh's own (never voter ids, tokens or other personal data)
  POLL_ID: 'votemesh.poll.id',
  OPTION_ID: 'votemesh.option.id',
  RECEIPT_ID: 'votemesh.receipt.id',
  VOTE_OUTCOME: 'votemesh.vote.outcome',
  TALLY_VERSION: 'votemesh.tally.version',
  BATCH_POLLS: 'votemesh.batch.polls',
  /** Items in one batch (stream entries of a worker batch, events of an audit append). */
  BATCH_SIZE: 'votemesh.batch.size',
  SUBGRAPH_NAME: 'votemesh.subgraph.name',
  SUBSCRIPTION_FIELD: 'votemesh.subscription.field',
  SUBSCRIBERS: 'votemesh.subscription.subscribers',
  /** Messages one subscription event was written as (one per client that took it). */
  SUBSCRIPTION_MESSAGES: 'votemesh.subscription.messages',
  /** How starting a client subscription ended: `subscribed`, `rejected` (told to the client), `failed` (threw). */
  SUBSCRIPTION_OUTCOME: 'votemesh.subscription.outcome',
  /** Whether a started client subscription `opened` its upstream or `joined` one already open (deduplication). */
  SUBSCRIPTION_UPSTREAM: 'votemesh.subscription.upstream',
  TRANSPORT: 'votemesh.transport',
  AUDIT_ACTION: 'votemesh.audit.action',
  /** Events of an audit batch actually appended (the rest were resends already in the chain). */
  AUDIT_APPENDED: 'votemesh.audit.appended',
} as const;

/** Well-known attribute values. */
export const ATTR_VALUES = {
  MESSAGING_SYSTEM_REDIS: 'redis',
  MESSAGING_OPERATION_SEND: 'send',
  MESSAGING_OPERATION_PROCESS: 'process',
  RPC_SYSTEM_GRPC: 'grpc',
} as const;

// ─── Prometheus metrics ─────────────────────────────────────────────────────────────────────────

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricName {
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  /** The labels the metric carries, where they are part of the contract (dashboards use them). */
  readonly labelNames?: readonly string[];
  /** Suggested buckets (seconds or counts) for histograms. */
  readonly buckets?: readonly number[];
}

/** Latency buckets in seconds, 1 ms … 10 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Batch sizes, 1 … 2000 entries. */
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000] as const;

/**
 * Every metric the processes export, by owner. Use with prom-client as
 * `new Counter({ name: M.name, help: M.help, labelNames: M.labelNames ?? [], registers: [registry] })`.
 * `outcome` on operation/vote counters is `ok` or a votemesh error code (SCREAMING_SNAKE).
 */
export const METRICS = {
  // every process
  dependencyUp: {
    name: 'votemesh_dependency_up',
    help: 'Whether a dependency answers its readiness check (1) or not (0), at each scrape; required="true" ones decide /readyz.',
    kind: 'gauge',
    labelNames: ['dependency', 'required'],
  },
  // gateway
  gatewayOperationsTotal: {
    name: 'votemesh_gateway_operations_total',
    help: 'GraphQL operations completed by the gateway, by type, name (pinned to its document), client and outcome (ok or error code).',
    kind: 'counter',
    labelNames: ['operation_type', 'operation_name', 'client_name', 'outcome'],
  },
  gatewayOperationDurationSeconds: {
    name: 'votemesh_gateway_operation_duration_seconds',
    help: 'Time from request to response for gateway queries and mutations.',
    kind: 'histogram',
    labelNames: ['operation_type', 'operation_name', 'client_name'],
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  gatewayWsConnections: { name: 'votemesh_gateway_ws_connections', help: 'Open graphql-ws connections.', kind: 'gauge' },
  gatewaySseConnections: { name: 'votemesh_gateway_sse_connections', help: 'Open SSE (graphql-sse) and multipart subscription streams.', kind: 'gauge' },
  gatewaySubscriptions: { name: 'votemesh_gateway_subscriptions', help: 'Active downstream (client) subscriptions.', kind: 'gauge' },
  gatewayUpstreamSubscriptions: {
    name: 'votemesh_gateway_upstream_subscriptions',
    help: 'Active upstream subscriptions to subgraphs (after dedup).',
    kind: 'gauge',
  },
  gatewaySubscriptionMessagesTotal: {
    name: 'votemesh_gateway_subscription_messages_total',
    help: 'Subscription messages written to clients.',
    kind: 'counter',
  },
  gatewaySubscriptionEventsTotal: {
    name: 'votemesh_gateway_subscription_events_total',
    help: 'Subscription events received from subgraphs.',
    kind: 'counter',
  },
  gatewaySlowConsumersDroppedTotal: {
    name: 'votemesh_gateway_slow_consumers_dropped_total',
    help: 'Client subscriptions closed because the client could not keep up.',
    kind: 'counter',
  },
  gatewayTallyDeliverySeconds: {
    name: 'votemesh_gateway_tally_delivery_seconds',
    help: 'Vote-to-screen latency: worker commit (committedAtMs) to the tally event written to a client.',
    kind: 'histogram',
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  // vote subgraph
  votesTotal: {
    name: 'votemesh_votes_total',
    help: 'castVote calls, by outcome (accepted or rejected) and reason (error code, or none).',
    kind: 'counter',
    labelNames: ['outcome', 'reason'],
  },
  castVoteDurationSeconds: {
    name: 'votemesh_cast_vote_duration_seconds',
    help: 'Time castVote took from validation to the PENDING receipt, accepted or not.',
    kind: 'histogram',
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  pollTransitionsTotal: {
    name: 'votemesh_poll_transitions_total',
    help: 'Poll lifecycle changes applied by this process, by new status and trigger (admin or schedule).',
    kind: 'counter',
    labelNames: ['status', 'trigger'],
  },
  pollCacheLookupsTotal: {
    name: 'votemesh_poll_cache_lookups_total',
    help: "castVote's in-memory poll cache lookups, by result (hit or miss).",
    kind: 'counter',
    labelNames: ['result'],
  },
  voteSubscriptions: {
    name: 'votemesh_vote_subscriptions',
    help: 'Subscriptions currently served by the vote subgraph (counted once each holds its starting state), by root field.',
    kind: 'gauge',
    labelNames: ['field'],
  },
  // result subgraph
  resultSubscriptions: { name: 'votemesh_result_subscriptions', help: 'Active pollResults subscriptions.', kind: 'gauge' },
  resultPushesTotal: { name: 'votemesh_result_pushes_total', help: 'pollResults events pushed to subscribers.', kind: 'counter' },
  resultWatchStreams: { name: 'votemesh_result_watch_streams', help: 'Open TallyService.WatchResults streams.', kind: 'gauge' },
  resultWatchReconnectsTotal: {
    name: 'votemesh_result_watch_reconnects_total',
    help: 'TallyService.WatchResults streams that ended unexpectedly and were reopened after a backoff.',
    kind: 'counter',
  },
  // audit senders (vote subgraph, worker): common/src/grpc/audit-client.ts
  auditClientBuffered: {
    name: 'votemesh_audit_client_buffered',
    help: 'Audit events held in memory that the audit service has not confirmed yet.',
    kind: 'gauge',
  },
  auditClientSpooled: {
    name: 'votemesh_audit_client_spooled',
    help: "Unconfirmed audit events in this process kind's Redis spool (all replicas), read at scrape time.",
    kind: 'gauge',
  },
  auditClientUnspooled: {
    name: 'votemesh_audit_client_unspooled',
    help: 'Unconfirmed audit events this process holds in memory only: their Redis spool write failed and is retried until it succeeds.',
    kind: 'gauge',
  },
  auditClientDroppedTotal: {
    name: 'votemesh_audit_client_dropped_total',
    help: 'Audit events given up, by reason (buffer_full with the spool unwritable, closed, invalid_id, unencodable, refused by the server).',
    kind: 'counter',
    labelNames: ['reason'],
  },
  auditClientResentTotal: {
    name: 'votemesh_audit_client_resent_total',
    help: 'Audit events sent again, by cause (call_failed: a lost or failed call; spool: adopted from the Redis spool).',
    kind: 'counter',
    labelNames: ['cause'],
  },
  auditClientOverflowedTotal: {
    name: 'votemesh_audit_client_overflowed_total',
    help: 'Audit events recorded while the memory buffer was full: kept in the Redis spool only, sent once there is room.',
    kind: 'counter',
  },
  auditClientSpoolErrorsTotal: {
    name: 'votemesh_audit_client_spool_errors_total',
    help: 'Failed writes to the Redis spool (the events stay in memory; removals failing only cause harmless resends).',
    kind: 'counter',
  },
  // audit subgraph
  auditEventsAppendedTotal: {
    name: 'votemesh_audit_events_appended_total',
    help: 'Audit events appended to the hash chain, by action.',
    kind: 'counter',
    labelNames: ['action'],
  },
  auditAppendBatchSeconds: {
    name: 'votemesh_audit_append_batch_seconds',
    help: 'Time to append one batch of audit events.',
    kind: 'histogram',
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  auditIngestStreams: { name: 'votemesh_audit_ingest_streams', help: 'Open AuditIngest client streams.', kind: 'gauge' },
  auditEventsDuplicateTotal: {
    name: 'votemesh_audit_events_duplicate_total',
    help: 'Audit events ignored because their event_id was already recorded (client resends).',
    kind: 'counter',
  },
  auditIngestRejectedTotal: {
    name: 'votemesh_audit_ingest_rejected_total',
    help: 'AuditIngest messages rejected at the edge, by offending field.',
    kind: 'counter',
    labelNames: ['field'],
  },
  auditAppendBatchSize: {
    name: 'votemesh_audit_append_batch_size',
    help: 'Events per append transaction.',
    kind: 'histogram',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
  },
  auditFeedSubscribers: { name: 'votemesh_audit_feed_subscribers', help: 'auditEvents subscriptions currently served by this process.', kind: 'gauge' },
  // worker
  workerBatchSize: { name: 'votemesh_worker_batch_size', help: 'Entries per applied batch.', kind: 'histogram', buckets: BATCH_SIZE_BUCKETS },
  workerBatchApplySeconds: {
    name: 'votemesh_worker_batch_apply_seconds',
    help: 'Time to apply one batch: its PostgreSQL transaction plus settling it in Redis (receipts, ack, tally publish, retries included).',
    kind: 'histogram',
    buckets: LATENCY_BUCKETS_SECONDS,
  },
  workerVotesAppliedTotal: {
    name: 'votemesh_worker_votes_applied_total',
    help: 'Stream entries applied, by outcome (counted, superseded, rejected, duplicate).',
    kind: 'counter',
    labelNames: ['outcome'],
  },
  workerClaimedEntriesTotal: {
    name: 'votemesh_worker_claimed_entries_total',
    help: 'Pending entries claimed from dead consumers (XAUTOCLAIM).',
    kind: 'counter',
  },
  workerDeletedConsumersTotal: {
    name: 'votemesh_worker_deleted_consumers_total',
    help: 'Consumers removed from the tally group (XGROUP DELCONSUMER): idle past CONSUMER_DELETE_IDLE_MS with no pending entries.',
    kind: 'counter',
  },
  workerTransactionRetriesTotal: {
    name: 'votemesh_worker_transaction_retries_total',
    help: 'Batch transactions retried after a deadlock or serialization failure, by SQLSTATE.',
    kind: 'counter',
    labelNames: ['sqlstate'],
  },
  workerPublishErrorsTotal: {
    name: 'votemesh_worker_publish_errors_total',
    help: 'Redis commands that failed after a commit (receipts, ack, tally publish).',
    kind: 'counter',
  },
  workerBallotRacesTotal: {
    name: 'votemesh_worker_ballot_races_total',
    help: 'Votes whose ballot a concurrent batch changed during the one-statement apply; decided again under row locks.',
    kind: 'counter',
  },
  workerSettleRetriesTotal: {
    name: 'votemesh_worker_settle_retries_total',
    help: 'Failed attempts to settle a committed batch (receipts, ack, tally messages in Redis), each retried with backoff.',
    kind: 'counter',
  },
  streamLength: { name: 'votemesh_stream_length', help: 'Entries in the votes stream (XLEN).', kind: 'gauge' },
  streamPending: { name: 'votemesh_stream_pending', help: 'Entries delivered but not acknowledged (XPENDING).', kind: 'gauge' },
  streamLag: { name: 'votemesh_stream_lag', help: 'Entries not yet delivered to the consumer group; NaN when Redis cannot tell.', kind: 'gauge' },
  streamStatsUp: {
    name: 'votemesh_stream_stats_up',
    help: '1 when this scrape read the votemesh_stream_* gauges from Redis; 0 when Redis did not answer in time and they hold the last values read (stale).',
    kind: 'gauge',
  },
  streamStatsErrorsTotal: {
    name: 'votemesh_stream_stats_errors_total',
    help: 'Scrapes whose read of the votemesh_stream_* gauges from Redis failed or timed out.',
    kind: 'counter',
  },
} as const satisfies Record<string, MetricName>;

export type MetricKey = keyof typeof METRICS;

/** The series names Prometheus stores for a metric (`_bucket`/`_sum`/`_count` for histograms). */
export function seriesNames(metric: MetricName): string[] {
  return metric.kind === 'histogram' ? [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`] : [metric.name];
}
