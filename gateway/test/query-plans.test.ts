// The query plans of votemesh's key operations over the committed supergraph, as readable text.
// A change to a subgraph schema or to the planner that changes how an operation is fetched shows
// up here as a diff. Rewrite the snapshots with UPDATE_QUERY_PLANS=1 and review them.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import { prettyFormatQueryPlan, QueryPlanner } from '@apollo/query-planner';
import { parse } from 'graphql';
import { loadSupergraph } from '../src/supergraph/load-supergraph.ts';

const root = new URL('../../', import.meta.url);
const snapshots = new URL('./query-plans/', import.meta.url);
const update = process.env['UPDATE_QUERY_PLANS'] === '1';

const operations: Record<string, string> = {
  'subscription-poll-results': `subscription ($pollId: ID!) {
    pollResults(pollId: $pollId) { version totalVotes options { votes share option { label } } poll { question status } }
  }`,
  'subscription-vote-receipt': `subscription ($id: ID!) { voteReceipt(id: $id) { status option { label } } }`,
  'subscription-audit-events': `subscription { auditEvents { seq action pollId } }`,
  'query-poll-across-subgraphs': `query ($id: ID!) {
    poll(id: $id) { question status results { totalVotes leaders { label } options { votes option { label } } }
      auditTrail(first: 5) { edges { node { action } } } }
  }`,
  'mutation-cast-vote': `mutation ($pollId: ID!, $optionId: ID!) { castVote(pollId: $pollId, optionId: $optionId) { id status poll { results { totalVotes } } } }`,
};

describe('query plans over the committed supergraph', async () => {
  const sdl = await readFile(fileURLToPath(new URL('supergraph.graphql', root)), 'utf8');
  const supergraph = Supergraph.build(loadSupergraph(sdl).executableSdl);
  const planner = new QueryPlanner(supergraph);

  for (const [name, query] of Object.entries(operations)) {
    it(name, async () => {
      const operation = operationFromDocument(supergraph.apiSchema(), parse(query));
      const plan = `${prettyFormatQueryPlan(planner.buildQueryPlan(operation))}\n`;
      const file = fileURLToPath(new URL(`${name}.txt`, snapshots));
      if (update) await writeFile(file, plan);
      const expected = await readFile(file, 'utf8').catch(() => '(no snapshot yet: run with UPDATE_QUERY_PLANS=1)');
      assert.equal(plan, expected, `query plan of ${name} changed`);
    });
  }
});
