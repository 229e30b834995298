// Validation rules that bound what one operation may ask for: selection depth and alias count,
// following fragments. Introspection (`__schema`, `__type`) is not counted towards depth, so
// GraphiQL and codegen keep working under a tight limit. Violations are GRAPHQL_VALIDATION_FAILED
// with a message that states the limit and what the operation used.
import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

export interface GraphQLLimitsOptions {
  /** Deepest field nesting allowed (a root field is depth 1). @default 12 */
  readonly maxDepth?: number;
  /** Most aliased fields allowed in one operation (counting through fragments). @default 30 */
  readonly maxAliases?: number;
}

interface Measure {
  depth: number;
  aliases: number;
}

export function createLimitRules(options: GraphQLLimitsOptions = {}): ValidationRule[] {
  const maxDepth = options.maxDepth ?? 12;
  const maxAliases = options.maxAliases ?? 30;
  const rule = (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const fragments: Record<string, FragmentDefinitionNode> = {};
      for (const definition of context.getDocument().definitions) {
        if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
      }
      const measured = measure(operation.selectionSet, fragments, new Set(), new Map());
      const name = operation.name ? `Operation "${operation.name.value}"` : 'The operation';
      if (measured.depth > maxDepth) {
        context.reportError(
          new GraphQLError(`${name} is ${measured.depth} levels deep; the limit is ${maxDepth}`, {
            nodes: [operation],
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 'maxDepth', max: maxDepth, actual: measured.depth },
          }),
        );
      }
      if (measured.aliases > maxAliases) {
        context.reportError(
          new GraphQLError(`${name} uses ${measured.aliases} aliases; the limit is ${maxAliases}`, {
            nodes: [operation],
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 'maxAliases', max: maxAliases, actual: measured.aliases },
          }),
        );
      }
      return false;
    },
  });
  return [rule];
}

// Fragment measures are memoised: a fragment spread many times (or a "fragment bomb" of spreads of
// spreads) costs one walk, not an exponential number.
function measure(
  selectionSet: SelectionSetNode,
  fragments: Record<string, FragmentDefinitionNode>,
  visiting: Set<string>,
  memo: Map<string, Measure>,
): Measure {
  const result: Measure = { depth: 0, aliases: 0 };
  for (const selection of selectionSet.selections) {
    let inner: Measure = { depth: 0, aliases: 0 };
    switch (selection.kind) {
      case Kind.FIELD: {
        if (selection.name.value === '__schema' || selection.name.value === '__type') continue;
        const below = selection.selectionSet ? measure(selection.selectionSet, fragments, visiting, memo) : { depth: 0, aliases: 0 };
        inner = { depth: below.depth + 1, aliases: below.aliases + (selection.alias ? 1 : 0) };
        break;
      }
      case Kind.INLINE_FRAGMENT:
        inner = measure(selection.selectionSet, fragments, visiting, memo);
        break;
      case Kind.FRAGMENT_SPREAD: {
        const fragment = fragments[selection.name.value];
        // A cycle is reported by graphql's own NoFragmentCyclesRule; do not recurse forever here.
        if (!fragment || visiting.has(fragment.name.value)) continue;
        const known = memo.get(fragment.name.value);
        if (known) {
          inner = known;
          break;
        }
        visiting.add(fragment.name.value);
        inner = measure(fragment.selectionSet, fragments, visiting, memo);
        visiting.delete(fragment.name.value);
        memo.set(fragment.name.value, inner);
        break;
      }
    }
    result.depth = Math.max(result.depth, inner.depth);
    result.aliases += inner.aliases;
  }
  return result;
}
