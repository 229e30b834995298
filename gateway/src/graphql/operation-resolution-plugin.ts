// Refuses, once Apollo Server has parsed and validated a /graphql request, what the gateway's
// executor cannot run, with a 4xx saying what to send instead. Without it @apollo/gateway's
// executor threw on these and the client got 500 INTERNAL with a stack trace:
//   - no operation selected (unknown operationName, several operations and no name): 400
//     GRAPHQL_VALIDATION_FAILED, the words the subscription transports use (select-operation.ts);
//   - a subscription: HTTP answers one result per request, so 400 BAD_REQUEST pointing to the
//     transports that stream on this same endpoint.
// Registered before the auth policy plugin: a subscription sent to the wrong transport hears that
// first, not an auth refusal it would get again on the right one.
import type { ApolloServerPlugin } from '@apollo/server';
import { VotemeshError } from '@votemesh/common/errors';
import type { GatewayContext } from '../gateway-context.ts';
import { withHttpStatus } from './apollo-status.ts';
import { selectOperation } from './select-operation.ts';

export interface OperationResolutionOptions {
  /** Whether subscription transports are plugged in (the refusal says where to go, or that there is nowhere). */
  readonly subscriptionsServed: boolean;
}

export const SUBSCRIPTION_TRANSPORTS_HINT =
  'subscribe at this same /graphql over graphql-ws (WebSocket, subprotocol graphql-transport-ws), ' +
  'SSE (Accept: text/event-stream) or multipart (Accept: multipart/mixed;subscriptionSpec="1.0")';

export function createOperationResolutionPlugin(options: OperationResolutionOptions): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request }) {
          if (!operation) {
            const selected = selectOperation(document, request.operationName);
            // Apollo found none, so neither does the same rule; the fallback only keeps the types honest.
            throw withHttpStatus(selected instanceof VotemeshError ? selected : new VotemeshError('GRAPHQL_VALIDATION_FAILED', 'No operation to run'));
          }
          // The HTTP handler refuses subscriptions before Apollo Server sees them (http/graphql-http.ts);
          // this stays for any other way into Apollo Server (executeOperation).
          if (operation.operation === 'subscription') throw withHttpStatus(subscriptionOverHttpRefusal(options.subscriptionsServed));
        },
      };
    },
  };
}

/** What a subscription sent as a plain HTTP request hears: 400 BAD_REQUEST and where to go instead. */
export function subscriptionOverHttpRefusal(subscriptionsServed: boolean): VotemeshError {
  const where = subscriptionsServed ? SUBSCRIPTION_TRANSPORTS_HINT : 'this gateway serves no subscription transport';
  return new VotemeshError('BAD_REQUEST', `A subscription cannot run as a plain HTTP request (one response, one result): ${where}`);
}
