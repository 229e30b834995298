// The transport-free core of federated subscriptions. Client subscriptions that would open the
// same upstream subscription — same subgraph, upstream operation, upstream variables and auth
// scope — share ONE upstream subscription. Per upstream event each resolution group (clients with
// the same document + variables) is resolved once and serialized once; the same OutgoingResult
// (whose wire bytes transports build once, outgoing-result.ts) is then written to every
// subscriber's sink. The upstream closes when its last subscriber leaves.
// Late joiners: when the subscription's root field is declared stateful (`replayFields`, e.g.
// `Subscription.pollResults`: every event is the whole current state), a client that joins an
// upstream which has already delivered its first event gets the latest state at once — the same
// serialized message its group last got, or, for a new group, the latest upstream event resolved
// for that group — and then every later event, in order. Feeds (every event a new fact, e.g.
// `Subscription.auditEvents`) are never replayed: a newcomer waits for the next event.
// Opening an upstream starts its `gateway.upstream.subscribe` span: a trace of its own that links to
// the trace context of the subscription that caused it (upstream-telemetry.ts). Each subscriber is
// told whether it opened its upstream or joined one (its start span says which).
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { Identity } from '@votemesh/common/contracts/identity';
import type { Logger } from '@votemesh/common/logger';
import { raceTimeout } from '@votemesh/common/race-timeout';
import { inRootContext } from '@votemesh/common/telemetry/propagation';
import type { GraphQLFormattedError } from 'graphql';
import type { EventResolver, ResolutionContext, UpstreamEvent } from './event-resolver.ts';
import { startEventTelemetry } from './event-telemetry.ts';
import { outgoing, type OutgoingResult } from './outgoing-result.ts';
import type { PlannedSubscription } from './planner.ts';
import type { UpstreamConnector } from './upstream.ts';
import { startUpstreamTelemetry } from './upstream-telemetry.ts';

/** Where a client subscription's messages go; implemented by the WS and SSE adapters. */
export interface SubscriberSink {
  /** One serialized ExecutionResult. Returns false when the consumer is overloaded (and dropped). */
  send(result: OutgoingResult): boolean;
  complete(): void;
  error(errors: readonly GraphQLFormattedError[]): void;
}

export interface HubSubscribeRequest {
  readonly plan: PlannedSubscription;
  readonly variables: Record<string, unknown>;
  /** The verified caller; required when `plan.auth` is not 'public' (checked before). */
  readonly identity: Identity | undefined;
  readonly sink: SubscriberSink;
  /**
   * The client subscription's trace context (operations.ts passes its `gateway.subscription.start`
   * span): what the `gateway.upstream.subscribe` span links to when this subscription opens its
   * upstream (default: none, the upstream span has no link).
   */
  readonly traceContext?: Context;
}

/** One client subscription in the hub. */
export interface HubSubscription {
  /** Leaves the hub (idempotent); the upstream closes when its last subscriber leaves. */
  readonly unsubscribe: () => void;
  /** Whether this subscription opened its upstream or joined one already open (deduplication). */
  readonly upstream: 'opened' | 'joined';
}

export interface UpstreamStats {
  readonly key: string;
  readonly subgraph: string;
  readonly scope: string;
  readonly subscribers: number;
  /** Distinct (document, variables) resolutions per event. */
  readonly groups: number;
}

export interface HubCounters {
  eventResolved(): void;
  messagesSent(count: number): void;
  /** An event with a commit time reached its clients this many seconds after the commit. */
  tallyDelivered(seconds: number): void;
}

export interface SubscriptionHub {
  subscribe(request: HubSubscribeRequest): HubSubscription;
  subscriptionCount(): number;
  upstreams(): UpstreamStats[];
  /** Waits (bounded) until events already received are delivered to sinks. */
  flush(timeoutMs: number): Promise<void>;
  /** Ends every upstream without notifying sinks (their transports are closing). */
  close(): void;
}

export interface SubscriptionHubOptions {
  readonly connector: UpstreamConnector;
  /**
   * Root field coordinates (`Subscription.pollResults`) whose events are whole state snapshots, so
   * the latest one may be replayed to a subscriber that joins a running upstream. @default none
   */
  readonly replayFields?: ReadonlySet<string>;
  readonly resolver: EventResolver;
  readonly signIdentity: (identity: Identity) => Promise<string>;
  readonly counters: HubCounters;
  readonly logger: Logger;
}

interface Group {
  readonly plan: PlannedSubscription;
  readonly variables: Record<string, unknown>;
  readonly sinks: Set<SubscriberSink>;
  /** What this group was last sent (replay upstreams only), replayed to a sink that joins it. */
  lastSent: OutgoingResult | undefined;
}

interface Upstream {
  readonly key: string;
  readonly subgraph: string;
  readonly scope: string;
  readonly identity: Identity | undefined;
  readonly groups: Map<string, Group>;
  subscribers: number;
  /** Delivery order: event N+1 is written after event N even if it resolved first. */
  delivered: Promise<void>;
  dispose: () => void;
  identityToken: { value: string; renewAt: number } | undefined;
  /** The root field is a state snapshot: keep and replay the latest event (see the header). */
  readonly replay: boolean;
  /** The latest event received (replay upstreams only); undefined until the first one arrives. */
  latest: UpstreamEvent | undefined;
}

/** Forwarded identity tokens live 300 s (common/contracts/identity); renew well before. */
const IDENTITY_TOKEN_REUSE_MS = 60_000;

export function createSubscriptionHub(options: SubscriptionHubOptions): SubscriptionHub {
  const upstreams = new Map<string, Upstream>();
  let subscriptions = 0;

  async function resolutionContext(upstream: Upstream): Promise<ResolutionContext> {
    if (!upstream.identity) return {};
    const now = Date.now();
    if (!upstream.identityToken || upstream.identityToken.renewAt <= now) {
      upstream.identityToken = { value: await options.signIdentity(upstream.identity), renewAt: now + IDENTITY_TOKEN_REUSE_MS };
    }
    return { identityToken: upstream.identityToken.value };
  }

  function resolveFor(upstream: Upstream, group: Group, event: UpstreamEvent, context: ResolutionContext): Promise<OutgoingResult> {
    return options.resolver.resolve(group.plan, group.variables, event, context).then(outgoing, (error: unknown) => {
      options.logger.error({ err: error, subgraph: upstream.subgraph }, 'resolving a subscription event failed');
      return outgoing({ errors: [{ message: 'Internal error resolving this event', extensions: { code: 'INTERNAL' } }] });
    });
  }

  /** Writes one group's payload to each of its current sinks; returns how many took it. */
  function deliver(upstream: Upstream, group: Group, payload: OutgoingResult): number {
    if (upstream.replay) group.lastSent = payload;
    let sent = 0;
    // Copy: a sink that reports overload is removed by its adapter while we iterate.
    for (const sink of [...group.sinks]) if (sink.send(payload)) sent += 1;
    options.counters.messagesSent(sent);
    return sent;
  }

  function onEvent(upstream: Upstream, event: UpstreamEvent): void {
    options.counters.eventResolved();
    if (upstream.replay) upstream.latest = event;
    const telemetry = startEventTelemetry(event, { subgraph: upstream.subgraph, subscribers: upstream.subscribers });
    const groups = [...upstream.groups.values()];
    const serialized = telemetry.run(() =>
      resolutionContext(upstream).then((context) => Promise.all(groups.map((group) => resolveFor(upstream, group, event, context)))),
    );
    upstream.delivered = upstream.delivered
      .then(async () => {
        const payloads = await serialized;
        let delivered = 0;
        groups.forEach((group, index) => {
          const payload = payloads[index];
          if (payload !== undefined) delivered += deliver(upstream, group, payload);
        });
        const seconds = delivered > 0 ? telemetry.deliverySeconds() : undefined;
        if (seconds !== undefined) options.counters.tallyDelivered(seconds);
        telemetry.end(delivered);
      })
      .catch((error: unknown) => {
        telemetry.end(0, error);
        options.logger.error({ err: error }, 'delivering a subscription event failed');
      });
  }

  /**
   * A new group on an upstream that already has state: resolve the latest event for it, in delivery
   * order (after events already in flight, which it is not part of; before later ones, which it is).
   */
  function replayTo(upstream: Upstream, group: Group, event: UpstreamEvent): void {
    const payload = resolutionContext(upstream).then((context) => resolveFor(upstream, group, event, context));
    upstream.delivered = upstream.delivered
      .then(async () => {
        const serialized = await payload;
        // Defensive: never write an older state after a newer one reached this group.
        if (group.lastSent === undefined) deliver(upstream, group, serialized);
      })
      .catch((error: unknown) => {
        options.logger.error({ err: error }, 'replaying the latest subscription event failed');
      });
  }

  function end(upstream: Upstream, notify: (sink: SubscriberSink) => void): void {
    if (upstreams.get(upstream.key) !== upstream) return;
    upstreams.delete(upstream.key);
    // Deliver what is already resolving, then end every subscriber.
    void upstream.delivered.then(() => {
      const sinks = [...upstream.groups.values()].flatMap((group) => {
        const members = [...group.sinks];
        group.sinks.clear();
        return members;
      });
      upstream.groups.clear();
      upstream.subscribers = 0;
      subscriptions -= sinks.length;
      for (const sink of sinks) notify(sink);
    });
  }

  function open(
    key: string,
    plan: PlannedSubscription,
    upstreamVariables: Record<string, unknown>,
    scope: string,
    identity: Identity | undefined,
    traceContext: Context,
  ): Upstream {
    const upstream: Upstream = {
      key,
      subgraph: plan.primary.serviceName,
      scope,
      identity,
      groups: new Map(),
      subscribers: 0,
      delivered: Promise.resolve(),
      dispose: () => {},
      identityToken: undefined,
      replay: options.replayFields?.has(plan.rootField) ?? false,
      latest: undefined,
    };
    upstreams.set(key, upstream);
    const telemetry = startUpstreamTelemetry(traceContext, { subgraph: upstream.subgraph, operationName: plan.primary.operationName });
    let unsubscribe: () => void;
    try {
      // In the root context: the pooled socket to the subgraph may be opened (and later reconnected)
      // here, and it and its callbacks serve every upstream on it, not the client whose subscribe
      // happened to come first.
      unsubscribe = inRootContext(() =>
        options.connector.subscribe(
          { subgraph: upstream.subgraph, scope, identity },
          { query: plan.primary.operation, operationName: plan.primary.operationName, variables: upstreamVariables, extensions: telemetry.extensions },
          {
            next: (event) => {
              telemetry.received(event);
              onEvent(upstream, event);
            },
            error: (errors) => {
              telemetry.end(errors);
              end(upstream, (sink) => sink.error(errors));
            },
            complete: () => {
              telemetry.end();
              end(upstream, (sink) => sink.complete());
            },
          },
        ),
      );
    } catch (error) {
      telemetry.end([{ message: error instanceof Error ? error.message : String(error) }]);
      upstreams.delete(key);
      throw error;
    }
    upstream.dispose = () => {
      telemetry.end();
      unsubscribe();
    };
    return upstream;
  }

  return {
    subscribe({ plan, variables, identity, sink, traceContext }) {
      const scope = plan.auth === 'public' ? 'public' : scopeOf(identity);
      const forwarded = plan.auth === 'public' ? undefined : identity;
      const upstreamVariables = pick(variables, plan.primary.variableUsages ?? []);
      const key = [plan.primary.serviceName, scope, plan.primary.operation, stableStringify(upstreamVariables)].join('\u0000');
      const running = upstreams.get(key);
      const upstream = running ?? open(key, plan, upstreamVariables, scope, forwarded, traceContext ?? ROOT_CONTEXT);
      const groupKey = `${plan.key}\u0000${stableStringify(variables)}`;
      let group = upstream.groups.get(groupKey);
      const created = !group;
      if (!group) {
        group = { plan, variables, sinks: new Set(), lastSent: undefined };
        upstream.groups.set(groupKey, group);
      }
      group.sinks.add(sink);
      upstream.subscribers += 1;
      subscriptions += 1;
      if (upstream.latest !== undefined) {
        if (created) replayTo(upstream, group, upstream.latest);
        else if (group.lastSent !== undefined && sink.send(group.lastSent)) options.counters.messagesSent(1);
        // Otherwise the group's first message (an event or its own replay) is on its way to all its sinks.
      }
      const joined = group;
      let left = false;
      const unsubscribe = (): void => {
        if (left) return;
        left = true;
        if (!joined.sinks.delete(sink)) return; // already ended by the upstream
        subscriptions -= 1;
        upstream.subscribers -= 1;
        if (joined.sinks.size === 0) upstream.groups.delete(groupKey);
        if (upstream.groups.size === 0 && upstreams.get(key) === upstream) {
          upstreams.delete(key);
          upstream.dispose();
        }
      };
      return { unsubscribe, upstream: running ? 'joined' : 'opened' };
    },
    subscriptionCount: () => subscriptions,
    upstreams: () =>
      [...upstreams.values()].map((upstream) => ({
        key: upstream.key,
        subgraph: upstream.subgraph,
        scope: upstream.scope,
        subscribers: upstream.subscribers,
        groups: upstream.groups.size,
      })),
    async flush(timeoutMs) {
      await raceTimeout(Promise.all([...upstreams.values()].map((upstream) => upstream.delivered)), timeoutMs);
    },
    close() {
      // Counted out sink by sink rather than reset to 0: an upstream that already ended still
      // subtracts its own subscribers when its delivery settles, and a subscriber leaving after
      // close() finds itself gone (its unsubscribe is then a no-op) — either would otherwise take
      // the gauge below zero.
      for (const upstream of upstreams.values()) {
        upstream.dispose();
        for (const group of upstream.groups.values()) {
          subscriptions -= group.sinks.size;
          group.sinks.clear();
        }
        upstream.groups.clear();
        upstream.subscribers = 0;
      }
      upstreams.clear();
    },
  };
}

function scopeOf(identity: Identity | undefined): string {
  if (!identity) throw new Error('a non-public subscription reached the hub without an identity');
  return `${identity.role}:${identity.subject}`;
}

function pick(variables: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of names) if (Object.hasOwn(variables, name) && variables[name] !== undefined) picked[name] = variables[name];
  return picked;
}

/** JSON with object keys sorted, so equal variables give equal keys whatever their order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${stableStringify(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
