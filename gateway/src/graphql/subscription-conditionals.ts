// The GraphQL spec (September 2025, "Single Root Field") forbids `@skip` and `@include` in a
// subscription's top-level selection, through fragments too: which root field, hence which
// upstream subscription, an operation opens must be known from the document alone. graphql-js 17
// reports it in its single-root-field rule. graphql-js 16, which Apollo Server and this gateway
// run, instead evaluates the directives there without the request's variables: it throws on
// `@include(if: $x)` ("… was not provided a runtime value", a 500 over HTTP, that text over
// graphql-ws and SSE) and lets `@skip(if: true)` through with no root field to plan. The
// subscription planner asks here before validating, in graphql-js 17's words.
import { GraphQLError, Kind, type DirectiveNode, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';

const CONDITIONALS = new Set(['skip', 'include']);

/** One error per subscription operation whose top-level selection uses @skip or @include. */
export function subscriptionRootConditionals(document: DocumentNode): GraphQLError[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const errors: GraphQLError[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION || definition.operation !== 'subscription') continue;
    const directives = topLevelConditionals(definition.selectionSet, fragments, new Set());
    if (directives.length === 0) continue;
    const subject = definition.name ? `Subscription "${definition.name.value}"` : 'Anonymous Subscription';
    errors.push(new GraphQLError(`${subject} must not use \`@skip\` or \`@include\` directives in the top level selection.`, { nodes: directives }));
  }
  return errors;
}

/** The @skip/@include directives on the selections of the top level, looking through fragments. */
function topLevelConditionals(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, seen: Set<string>): DirectiveNode[] {
  const found: DirectiveNode[] = [];
  for (const selection of selectionSet.selections) {
    found.push(...(selection.directives ?? []).filter((directive) => CONDITIONALS.has(directive.name.value)));
    if (selection.kind === Kind.INLINE_FRAGMENT) found.push(...topLevelConditionals(selection.selectionSet, fragments, seen));
    if (selection.kind === Kind.FRAGMENT_SPREAD && !seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      // An unknown fragment is validation's to report.
      if (fragment) found.push(...topLevelConditionals(fragment.selectionSet, fragments, seen));
    }
  }
  return found;
}
