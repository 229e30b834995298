// Runs a query or mutation that arrived on a socket or stream (SubscriptionHost.executeOperation)
// through the same admission as HTTP (AUTH_REQUIRED_FOR_GRAPH, one request of the caller's rate
// limit bucket) and the same Apollo Server pipeline (policy, limits, metrics, error masking).
// Errors come back as GraphQLErrors carrying the formatted message, path and extensions.
import { randomUUID } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../gateway-context.ts';
import { clientKeyOf } from '../http/client.ts';
import type { OperationGuard } from '../limits/operation-guard.ts';
import type { SubscriptionHost } from '../server.ts';

export function createOperationExecutor(options: {
  readonly apollo: ApolloServer<GatewayContext>;
  readonly guard: OperationGuard;
}): SubscriptionHost['executeOperation'] {
  const { apollo, guard } = options;
  return async (request, caller, address) => {
    const admission = await guard.admit(caller, clientKeyOf(caller, address));
    if (!admission.admitted) return { errors: [admission.error] };
    const identity = caller && { subject: caller.subject, role: caller.role, scopes: caller.scopes ?? [], expiresAt: caller.expiresAt };
    const response = await apollo.executeOperation(
      {
        query: request.query,
        ...(request.operationName === undefined ? {} : { operationName: request.operationName }),
        ...(request.variables === undefined ? {} : { variables: request.variables }),
        ...(request.extensions === undefined ? {} : { extensions: request.extensions }),
      },
      { contextValue: { identity, requestId: randomUUID(), traceHeaders: {} } },
    );
    if (response.body.kind !== 'single') throw new Error('Incremental delivery is not supported over subscriptions transports');
    const { data, errors, extensions } = response.body.singleResult;
    return {
      ...(data === undefined ? {} : { data }),
      ...(errors ? { errors: errors.map((error) => new GraphQLError(error.message, { path: error.path, extensions: error.extensions })) } : {}),
      ...(extensions ? { extensions } : {}),
    };
  };
}
