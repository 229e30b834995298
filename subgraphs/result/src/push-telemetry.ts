// Telemetry of one pushed pollResults event. graphql-ws has no per-message headers, so what the
// next hop (the gateway) needs travels in the event's `ExecutionResult.extensions`:
//   traceparent    a `graphql.subscription.event` span, child of the worker batch span that
//                  committed the tally: the push joins the batch's trace (which links to every vote)
//   committedAtMs  the commit time, from which the gateway measures vote-to-screen latency
// Only live updates carry them (PollResults.commit); the state read on subscribe does not, so an
// old commit time never counts as a slow delivery. The gateway strips both before clients see them.
import { SpanKind, trace } from '@opentelemetry/api';
import { ATTR, SPAN_NAMES, TRACEPARENT_EXTENSION, TRACER_NAMES } from '@votemesh/common/telemetry/names';
import { contextFromTraceparent, injectTraceparent } from '@votemesh/common/telemetry/propagation';
import type { PollResults } from './results.ts';

/** The extensions key with the commit time (epoch ms) of a live update. */
export const COMMITTED_AT_EXTENSION = 'committedAtMs';

const tracer = trace.getTracer(TRACER_NAMES.result);

/**
 * The subscription's most recent resolved event. graphql-ws executes one event at a time per
 * subscription and calls `onNext` before asking for the next, so the latest recorded event is the
 * one `onNext` is about to send.
 */
export interface PushedEventSlot {
  record(results: PollResults): void;
  take(): PollResults | undefined;
}

export function createPushedEventSlot(): PushedEventSlot {
  let latest: PollResults | undefined;
  return {
    record(results) {
      latest = results;
    },
    take() {
      const taken = latest;
      latest = undefined;
      return taken;
    },
  };
}

/** Records the push span of `results` and returns the extensions to send with it (none for a non-live state). */
export function pushExtensions(results: PollResults | undefined): Record<string, unknown> | undefined {
  const commit = results?.commit;
  if (!results || !commit) return undefined;
  const extensions: Record<string, unknown> = { [COMMITTED_AT_EXTENSION]: commit.committedAtMs };
  if (commit.traceparent) {
    const parent = contextFromTraceparent(commit.traceparent);
    const span = tracer.startSpan(
      SPAN_NAMES.subscriptionEvent,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          [ATTR.GRAPHQL_OPERATION_TYPE]: 'subscription',
          [ATTR.SUBSCRIPTION_FIELD]: 'pollResults',
          [ATTR.POLL_ID]: results.pollId,
          [ATTR.TALLY_VERSION]: results.version,
        },
      },
      parent,
    );
    const traceparent = injectTraceparent(trace.setSpan(parent, span));
    if (traceparent) extensions[TRACEPARENT_EXTENSION] = traceparent;
    span.end();
  }
  return extensions;
}
