// Checks an operation against the supergraph's auth policy before anything executes: an anonymous
// caller selecting an `@authenticated` field gets UNAUTHENTICATED, a caller without the scopes of a
// `@requiresScopes` field gets FORBIDDEN, both naming the fields. Subgraphs enforce as well; this
// makes the error early, whole and clear, and the same on every transport: HTTP runs it in the
// plugin below, graphql-ws, SSE and multipart subscriptions in subscriptions/operations.ts. Fragments (named and inline) are followed, and fields
// switched off with @skip/@include are not held against the caller.
import type { ApolloServerPlugin } from '@apollo/server';
import {
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isInterfaceType,
  isObjectType,
  Kind,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { VotemeshError } from '@votemesh/common/errors';
import { decide, describeScopes, type AuthPolicy } from '../supergraph/auth-policy.ts';
import type { Identity } from '@votemesh/common/contracts/identity';
import type { GatewayContext } from '../gateway-context.ts';
import { withHttpStatus } from '../graphql/apollo-status.ts';

export interface PolicyCheck {
  readonly schema: GraphQLSchema;
  readonly operation: OperationDefinitionNode;
  readonly fragments: Readonly<Record<string, FragmentDefinitionNode>>;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly policy: AuthPolicy;
  /** The caller (a VerifiedIdentity on HTTP; scopes when its token had them). */
  readonly identity: (Identity & { readonly scopes?: readonly string[] }) | undefined;
  /**
   * Hold fields switched off with @skip/@include against the caller too. Subscriptions do: their
   * upstream is shared by an auth scope computed from every selected field (subscriptions/planner.ts),
   * so a field the caller may not see is refused whatever the variables say. @default false
   */
  readonly includeSkippedFields?: boolean;
}

/** Throws UNAUTHENTICATED or FORBIDDEN (a VotemeshError) when the caller may not run `operation`. */
export function enforcePolicy(check: PolicyCheck): void {
  if (check.policy.isEmpty) return;
  const root = check.schema.getRootType(check.operation.operation);
  if (!root) return;
  // @skip/@include read the variables as execution will see them: coerced, defaults applied. The
  // raw request lacks a variable left to its default (`$v: Boolean = false`, what Apollo Client
  // sends), and getDirectiveValues throws on it: a valid operation answered 500. Variables that do
  // not coerce are not ours to report: execution refuses the operation naming them before any
  // field resolves, so nothing runs unchecked.
  let variables: Readonly<Record<string, unknown>> = {};
  if (!check.includeSkippedFields) {
    const coerced = getVariableValues(check.schema, check.operation.variableDefinitions ?? [], { ...check.variables });
    if (coerced.errors) return;
    variables = coerced.coerced;
  }
  const unauthenticated = new Set<string>();
  const forbidden = new Map<string, string>();
  const seen = new Set<string>();

  const walk = (selectionSet: SelectionSetNode, parent: GraphQLNamedType): void => {
    for (const selection of selectionSet.selections) {
      if (!check.includeSkippedFields && !isIncluded(selection, variables)) continue;
      switch (selection.kind) {
        case Kind.FIELD: {
          if (!isObjectType(parent) && !isInterfaceType(parent)) continue;
          const field = parent.getFields()[selection.name.value];
          if (!field) continue; // __typename and introspection meta fields
          const coordinate = parent === root ? field.name : `${parent.name}.${field.name}`;
          const auth = check.policy.getFieldAuth(parent.name, field.name);
          const decision = decide(auth, check.identity);
          if (!decision.allowed && decision.reason === 'unauthenticated') unauthenticated.add(coordinate);
          if (!decision.allowed && decision.reason === 'forbidden') forbidden.set(coordinate, describeScopes(decision.missing));
          if (selection.selectionSet) walk(selection.selectionSet, getNamedType(field.type));
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const type = selection.typeCondition ? check.schema.getType(selection.typeCondition.name.value) : parent;
          if (type) walk(selection.selectionSet, type);
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const fragment = check.fragments[selection.name.value];
          const key = `${selection.name.value}@${parent.name}`;
          if (!fragment || seen.has(key)) continue;
          seen.add(key);
          const type = check.schema.getType(fragment.typeCondition.name.value);
          if (type) walk(fragment.selectionSet, type);
          break;
        }
      }
    }
  };
  walk(check.operation.selectionSet, root);

  if (unauthenticated.size > 0) {
    const fields = [...unauthenticated];
    throw new VotemeshError('UNAUTHENTICATED', `${list(fields)} ${fields.length === 1 ? 'requires' : 'require'} a bearer token`, { details: { fields } });
  }
  if (forbidden.size > 0) {
    const fields = [...forbidden.keys()];
    const needs = [...new Set(forbidden.values())].map((scopes) => `the ${scopes} scope`).join(' or ');
    throw new VotemeshError(
      'FORBIDDEN',
      `${list(fields)} ${fields.length === 1 ? 'requires' : 'require'} ${needs}; your role is ${check.identity?.role ?? 'anonymous'}`,
      {
        details: { fields },
      },
    );
  }
}

/** Apollo Server plugin running `enforcePolicy` once the operation is resolved, before planning. */
export function createPolicyPlugin(policy: () => AuthPolicy): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, operation, document, request, contextValue }) {
          if (!operation) return;
          const fragments: Record<string, FragmentDefinitionNode> = {};
          for (const definition of document.definitions) {
            if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
          }
          try {
            enforcePolicy({ schema, operation, fragments, variables: request.variables, policy: policy(), identity: contextValue.identity });
          } catch (error) {
            if (!(error instanceof VotemeshError)) throw error;
            throw withHttpStatus(error);
          }
        },
      };
    },
  };
}

function isIncluded(selection: SelectionSetNode['selections'][number], variables: Readonly<Record<string, unknown>>): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, selection, variables)?.['if'] === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, selection, variables)?.['if'] !== false;
}

function list(fields: readonly string[]): string {
  return fields.length <= 1 ? (fields[0] ?? '') : `${fields.slice(0, -1).join(', ')} and ${fields.at(-1)}`;
}
