// Operations that only introspect (every root field is __schema, __type or __typename: what
// GraphiQL, codegen and Apollo's tooling send) are answered from the API schema by graphql-js, as
// @apollo/gateway's executor answers the introspection part of any operation, minus its query
// planner. The planner keeps its own copy of the introspection types, which lags graphql-js: it
// refused `__Type.isOneOf` (getIntrospectionQuery({ oneOf: true })) with a 500. Mixed operations
// still go through the planner (planner-refusals.ts answers what it refuses with a 400).
// GRAPHQL_INTROSPECTION=false is enforced before this, by validation.
import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { execute, Kind, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { GatewayContext } from '../gateway-context.ts';

const INTROSPECTION_ROOT_FIELDS = new Set(['__schema', '__type', '__typename']);

export function createIntrospectionPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async responseForOperation({ operation, document, schema, request }) {
          if (!operation) return null;
          const fragments = new Map<string, FragmentDefinitionNode>();
          for (const definition of document.definitions) {
            if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
          }
          if (!introspectsOnly(operation.selectionSet, fragments, new Set())) return null;
          const result = await execute({ schema, document, operationName: operation.name?.value, variableValues: request.variables });
          return {
            http: { headers: new HeaderMap() },
            body: {
              kind: 'single',
              singleResult: {
                ...(result.data === undefined ? {} : { data: result.data }),
                ...(result.errors ? { errors: result.errors.map((error) => error.toJSON()) } : {}),
              },
            },
          };
        },
      };
    },
  };
}

/** True when every root field, through fragments, is an introspection field. */
function introspectsOnly(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, seen: Set<string>): boolean {
  return selectionSet.selections.every((selection) => {
    switch (selection.kind) {
      case Kind.FIELD:
        return INTROSPECTION_ROOT_FIELDS.has(selection.name.value);
      case Kind.INLINE_FRAGMENT:
        return introspectsOnly(selection.selectionSet, fragments, seen);
      case Kind.FRAGMENT_SPREAD: {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) return fragment !== undefined;
        seen.add(fragment.name.value);
        return introspectsOnly(fragment.selectionSet, fragments, seen);
      }
    }
  });
}
