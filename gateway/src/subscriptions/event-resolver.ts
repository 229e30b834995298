// Resolves one upstream subscription event into the client's result with the gateway's own
// executor: the event is the result of the plan's primary fetch, so we run
// `Sequence [primary, rest]` through `executeQueryPlan` with a service map in which the primary
// subgraph answers that one fetch with the event itself (its other fetches go over HTTP as
// usual). Entity fetches, error paths, `serviceName` extensions and result shaping are therefore
// exactly what a query gets; there is no second executor.
import { executeQueryPlan, type GraphQLDataSource, type ServiceMap } from '@apollo/gateway';
import type { PlanNode } from '@apollo/query-planner';
import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import type { PlannedSubscription, SubscriptionPlanner } from './planner.ts';

/** The context handed to every data source of one resolution. */
export interface ResolutionContext {
  /** Signed `x-votemesh-identity` for this scope; absent for public scope. */
  readonly identityToken?: string;
}

type RequestContext = Parameters<typeof executeQueryPlan>[2];
type Logger = RequestContext['logger'];

/** What a subgraph pushed for one event, as the graphql-ws client delivered it. */
export interface UpstreamEvent {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
  /** The subgraph's telemetry for this event (event-telemetry.ts); never passed on to clients. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export interface EventResolver {
  resolve(plan: PlannedSubscription, variables: Record<string, unknown>, event: UpstreamEvent, context: ResolutionContext): Promise<ExecutionResult>;
}

export interface EventResolverOptions {
  readonly planner: SubscriptionPlanner;
  /** One data source per subgraph (forwarding `context.identityToken`). */
  readonly dataSources: Readonly<Record<string, GraphQLDataSource>>;
  readonly logger: Logger;
}

export function createEventResolver({ planner, dataSources, logger }: EventResolverOptions): EventResolver {
  // executeQueryPlan wants a full request context; the fields it does not read for a plan without
  // introspection or traces still need values of the right type.
  const noCache: RequestContext['cache'] = {
    get: () => Promise.resolve(undefined),
    set: () => Promise.resolve(),
    delete: () => Promise.resolve(true),
  };

  return {
    async resolve(plan, variables, event, context) {
      const eventResponse = {
        ...(event.data !== undefined ? { data: event.data } : {}),
        ...(event.errors ? { errors: event.errors } : {}),
      };
      const primarySource = dataSources[plan.primary.serviceName];
      const replayEvent: GraphQLDataSource = {
        process(options) {
          if (options.request.query === plan.primary.operation) return Promise.resolve(eventResponse);
          if (!primarySource) return Promise.reject(new Error(`No data source for subgraph "${plan.primary.serviceName}"`));
          return primarySource.process(options);
        },
      };
      const serviceMap: ServiceMap = { ...dataSources, [plan.primary.serviceName]: replayEvent };
      const node: PlanNode = plan.rest ? { kind: 'Sequence', nodes: [plan.primary, plan.rest] } : plan.primary;
      const { operation } = plan.operationContext;
      const requestContext: RequestContext = {
        request: { variables, ...(operation.name ? { operationName: operation.name.value } : {}) },
        logger,
        schema: planner.apiSchema,
        schemaHash: '' as RequestContext['schemaHash'],
        context: context,
        cache: noCache,
        queryHash: plan.key,
        document: plan.document,
        source: '',
        operationName: operation.name?.value ?? null,
        operation,
        metrics: {},
        overallCachePolicy: undefined,
      };
      return executeQueryPlan(
        { kind: 'QueryPlan', node },
        serviceMap,
        requestContext,
        plan.operationContext,
        planner.supergraphSchema,
        planner.federationApiSchema,
      );
    },
  };
}
