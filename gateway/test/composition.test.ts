// Supergraph composition: the committed supergraph.graphql must be what the subgraphs compose to
// (from their own schema modules where they exist, else the fixture copy of the brief's SDL), and
// composition errors must be readable.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Supergraph } from '@apollo/federation-internals';
import { DATE_TIME_DESCRIPTION, DateTimeScalar } from '@votemesh/common/graphql/date-time';
import { Kind, parse, type DocumentNode } from 'graphql';
import { loadSupergraph } from '../src/supergraph/load-supergraph.ts';
import { composeSupergraph, formatCompositionProblems, summarizeDiff, VOTEMESH_SUBGRAPHS, type SubgraphSource } from '../src/supergraph/compose.ts';
import { fixtureSubgraphs } from './helpers/fixture-supergraph.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function currentSubgraphs(): Promise<SubgraphSource[]> {
  const fixtures = fixtureSubgraphs();
  return Promise.all(
    VOTEMESH_SUBGRAPHS.map(async ({ name, url }) => {
      const modulePath = `${root}subgraphs/${name}/src/schema.ts`;
      if (!existsSync(modulePath)) return fixtures.find((fixture) => fixture.name === name) as SubgraphSource;
      const loaded = (await import(pathToFileURL(modulePath).href)) as { name: string; typeDefs: DocumentNode };
      return { name: loaded.name, url, typeDefs: loaded.typeDefs };
    }),
  );
}

describe('supergraph composition', () => {
  it('composes the committed supergraph.graphql exactly (no drift)', async () => {
    const result = composeSupergraph(await currentSubgraphs());
    assert.ok(result.ok, result.ok ? '' : formatCompositionProblems(result.problems));
    const committed = readFileSync(`${root}supergraph.graphql`, 'utf8');
    assert.equal(summarizeDiff(committed, result.supergraphSdl), '', 'run `npm run supergraph` and commit the result');
  });

  it("composes the brief's schema (fixtures) with every contract field", () => {
    const result = composeSupergraph(fixtureSubgraphs());
    assert.ok(result.ok);
    for (const field of [
      'castVote(pollId: ID!, optionId: ID!): VoteReceipt!',
      'results: PollResults @join__field(graph: RESULT)',
      'pollResults(pollId: ID!): PollResults!',
    ]) {
      assert.ok(result.supergraphSdl.includes(field), `supergraph has ${field}`);
    }
  });

  it('describes DateTime in every subgraph and in the API schema clients introspect, as the shared scalar does', async () => {
    assert.equal(DateTimeScalar.description, DATE_TIME_DESCRIPTION);
    for (const { name, typeDefs } of await currentSubgraphs()) {
      const scalar = typeDefs.definitions.find((definition) => definition.kind === Kind.SCALAR_TYPE_DEFINITION && definition.name.value === 'DateTime');
      assert.ok(scalar && 'description' in scalar, `${name} declares DateTime`);
      assert.equal(scalar.description?.value, DATE_TIME_DESCRIPTION, `${name}'s DateTime description`);
    }
    const sdl = readFileSync(`${root}supergraph.graphql`, 'utf8');
    const apiSchema = Supergraph.build(loadSupergraph(sdl).executableSdl).apiSchema().toGraphQLJSSchema();
    assert.equal(apiSchema.getType('DateTime')?.description, DATE_TIME_DESCRIPTION);
  });

  it('reports composition errors with code, message and subgraph', () => {
    const result = composeSupergraph([
      {
        name: 'left',
        url: 'http://left/graphql',
        typeDefs: parse(
          'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"]) type Thing @key(fields: "id") { id: ID! size: Int! } type Query { thing: Thing }',
        ),
      },
      {
        name: 'right',
        url: 'http://right/graphql',
        typeDefs: parse(
          'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"]) type Thing @key(fields: "id") { id: ID! size: String! }',
        ),
      },
    ]);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const problem = result.problems.find((candidate) => candidate.code === 'FIELD_TYPE_MISMATCH');
    assert.ok(problem, formatCompositionProblems(result.problems));
    assert.deepEqual([...problem.subgraphs].sort(), ['left', 'right']);
    assert.match(
      formatCompositionProblems(result.problems),
      /✗ FIELD_TYPE_MISMATCH \(subgraph (left, right|right, left)\): Type of field "Thing.size" is incompatible/,
    );
  });

  it('summarises a drift as changed lines', () => {
    assert.equal(summarizeDiff('a\nb\nc\n', 'a\nb\nc\n'), '');
    assert.equal(summarizeDiff('a\nb\nc', 'a\nB\nc'), '-     2 | b\n+     2 | B');
    const long = summarizeDiff('', Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n'), 10);
    assert.match(long, /… \d+ more changed line\(s\)$/);
  });
});
