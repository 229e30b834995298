// Supergraph composition as a pure function: subgraph modules in, supergraph SDL (or readable
// errors) out. `scripts/compose-supergraph.ts` writes/checks the committed file with it, and a
// test composes the same way to catch drift.
import { composeServices } from '@apollo/composition';
import type { DocumentNode, GraphQLError } from 'graphql';

export interface SubgraphModule {
  readonly name: string;
  readonly typeDefs: DocumentNode;
}

export interface SubgraphSource extends SubgraphModule {
  /** Where the gateway reaches the subgraph unless SUBGRAPH_URL_<NAME> overrides it. */
  readonly url: string;
}

export interface CompositionProblem {
  readonly code: string;
  readonly message: string;
  /** The subgraphs the problem points at, when composition says. */
  readonly subgraphs: readonly string[];
}

export type CompositionResult =
  | { readonly ok: true; readonly supergraphSdl: string; readonly hints: readonly string[] }
  | { readonly ok: false; readonly problems: readonly CompositionProblem[] };

/** The default subgraphs of votemesh and their local URLs (ports from the team brief). */
export const VOTEMESH_SUBGRAPHS = [
  { name: 'vote', url: 'http://127.0.0.1:4001/graphql' },
  { name: 'result', url: 'http://127.0.0.1:4002/graphql' },
  { name: 'audit', url: 'http://127.0.0.1:4003/graphql' },
] as const;

export function composeSupergraph(subgraphs: readonly SubgraphSource[]): CompositionResult {
  const result = composeServices(subgraphs.map(({ name, url, typeDefs }) => ({ name, url, typeDefs })));
  if (result.errors) {
    return { ok: false, problems: result.errors.map(toProblem) };
  }
  return {
    ok: true,
    supergraphSdl: ensureTrailingNewline(result.supergraphSdl),
    hints: result.hints.map((hint) => `${hint.definition.code}: ${hint.message}`),
  };
}

function toProblem(error: GraphQLError): CompositionProblem {
  const extensions = error.extensions;
  const code = typeof extensions['code'] === 'string' ? extensions['code'] : 'COMPOSITION_ERROR';
  const subgraphs = new Set<string>();
  // Composition errors name subgraphs in the message ('[vote] …', 'subgraph "vote"') and, for
  // some codes, carry the AST nodes of each subgraph's definition with a `subgraph` tag.
  for (const match of error.message.matchAll(/^\[([\w-]+)\]|subgraphs? "([\w-]+)"/gm)) {
    const named = match[1] ?? match[2];
    if (named) subgraphs.add(named);
  }
  for (const node of error.nodes ?? []) {
    const tagged = (node as { subgraph?: unknown }).subgraph;
    if (typeof tagged === 'string') subgraphs.add(tagged);
  }
  return { code, message: error.message, subgraphs: [...subgraphs] };
}

export function formatCompositionProblems(problems: readonly CompositionProblem[]): string {
  const lines = problems.map((problem) => {
    const where = problem.subgraphs.length > 0 ? ` (subgraph ${problem.subgraphs.join(', ')})` : '';
    return `  ✗ ${problem.code}${where}: ${problem.message}`;
  });
  return [`Composition failed with ${problems.length} error(s):`, ...lines].join('\n');
}

/**
 * A short, readable summary of how `actual` differs from `expected` (line based): the changed
 * hunks with a line of context, capped so a big drift does not flood CI logs.
 */
export function summarizeDiff(expected: string, actual: string, maxLines = 60): string {
  if (expected === actual) return '';
  const a = expected.split('\n');
  const b = actual.split('\n');
  const table = lcsTable(a, b);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < a.length && (j === b.length || (table[i + 1]?.[j] ?? 0) >= (table[i]?.[j + 1] ?? 0))) {
      out.push(`- ${String(i + 1).padStart(5)} | ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${String(j + 1).padStart(5)} | ${b[j]}`);
      j++;
    }
  }
  const shown = out.slice(0, maxLines);
  if (out.length > maxLines) shown.push(`… ${out.length - maxLines} more changed line(s)`);
  return shown.join('\n');
}

function lcsTable(a: readonly string[], b: readonly string[]): number[][] {
  // table[i][j] = length of the longest common subsequence of a[i..] and b[j..].
  const table: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    const row = table[i] as number[];
    const next = table[i + 1] as number[];
    for (let j = b.length - 1; j >= 0; j--) {
      row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  return table;
}

function ensureTrailingNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
