// The votemesh supergraph composed from the subgraphs' own schema files, the same sources
// `npm run supergraph` composes, so gateway tests always run against the real graph.
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { composeSupergraph, VOTEMESH_SUBGRAPHS, type SubgraphSource } from '../../src/supergraph/compose.ts';

export function fixtureSubgraphs(): SubgraphSource[] {
  return VOTEMESH_SUBGRAPHS.map(({ name, url }) => ({
    name,
    url,
    typeDefs: parse(readFileSync(new URL(`../../../subgraphs/${name}/src/schema.graphql`, import.meta.url), 'utf8')),
  }));
}

export function fixtureSupergraphSdl(): string {
  const result = composeSupergraph(fixtureSubgraphs());
  if (!result.ok) throw new Error(result.problems.map((problem) => problem.message).join('\n'));
  return result.supergraphSdl;
}
