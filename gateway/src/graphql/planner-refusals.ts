// The gateway as Apollo Server sees it, with one change: a document the query planner refuses as
// invalid GraphQL (federation-internals' INVALID_GRAPHQL) is the client's mistake, so it is answered
// 400 GRAPHQL_VALIDATION_FAILED instead of the 500 INTERNAL (and stack trace) Apollo Server gives
// any executor throw. graphql-js validation, which Apollo Server runs first, accepts a few such
// documents: the planner keeps its own copy of the introspection types, which lags graphql-js
// (`__Type.isOneOf`, what getIntrospectionQuery({ oneOf: true }) asks, beside other fields).
import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import { ERRORS } from '@apollo/federation-internals';
import { VotemeshError } from '@votemesh/common/errors';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from '../gateway-context.ts';
import { withHttpStatus } from './apollo-status.ts';

type Gateway = ApolloServerOptionsWithGateway<GatewayContext>['gateway'];

export function withPlannerRefusalsAsValidation(gateway: Gateway): Gateway {
  return {
    onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
    stop: () => gateway.stop(),
    async load(options) {
      const loaded = await gateway.load(options);
      const { executor } = loaded;
      if (!executor) return loaded;
      return {
        ...loaded,
        async executor(requestContext) {
          try {
            return await executor(requestContext);
          } catch (error) {
            throw refusalOf(error) ?? error;
          }
        },
      };
    },
  };
}

function refusalOf(error: unknown): VotemeshError | undefined {
  if (!(error instanceof GraphQLError) || error.extensions['code'] !== ERRORS.INVALID_GRAPHQL.code) return undefined;
  const hint = error.message.includes('"isOneOf"') ? ' (select isOneOf in an introspection-only operation, or leave it out)' : '';
  return withHttpStatus(new VotemeshError('GRAPHQL_VALIDATION_FAILED', `The gateway cannot plan this operation: ${error.message}${hint}`));
}
