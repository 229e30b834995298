// Composes supergraph.graphql from the subgraphs' own schema modules (`subgraphs/<name>/src/schema.ts`
// exporting `{ name, typeDefs }`).
//
//   npm run supergraph          write supergraph.graphql
//   npm run supergraph:check    exit 1 (with a diff summary) when the committed file has drifted
//
// A subgraph whose module does not exist yet is composed from its fixture copy in
// gateway/test/fixtures/subgraphs/<name>.graphql, with a warning. Subgraph URLs are the local
// defaults; the gateway overrides them at runtime with SUBGRAPH_URL_<NAME>.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, type DocumentNode } from 'graphql';
import { composeSupergraph, formatCompositionProblems, summarizeDiff, VOTEMESH_SUBGRAPHS, type SubgraphSource } from '@votemesh/gateway/supergraph/compose';

const root = fileURLToPath(new URL('..', import.meta.url));
const outputPath = `${root}supergraph.graphql`;
const check = process.argv.includes('--check');

async function loadSubgraph(name: string, url: string): Promise<SubgraphSource> {
  const modulePath = `${root}subgraphs/${name}/src/schema.ts`;
  if (existsSync(modulePath)) {
    const loaded: unknown = await import(pathToFileURL(modulePath).href);
    const { name: exportedName, typeDefs } = (loaded ?? {}) as { name?: unknown; typeDefs?: unknown };
    if (typeof exportedName !== 'string' || !isDocument(typeDefs)) {
      throw new Error(`${modulePath} must export { name: string, typeDefs: DocumentNode }`);
    }
    return { name: exportedName, url, typeDefs };
  }
  const fixturePath = `${root}gateway/test/fixtures/subgraphs/${name}.graphql`;
  process.stderr.write(`warning: ${modulePath} not found; composing "${name}" from ${fixturePath}\n`);
  return { name, url, typeDefs: parse(await readFile(fixturePath, 'utf8')) };
}

function isDocument(value: unknown): value is DocumentNode {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Document';
}

const subgraphs = await Promise.all(VOTEMESH_SUBGRAPHS.map(({ name, url }) => loadSubgraph(name, url)));
const result = composeSupergraph(subgraphs);
if (!result.ok) {
  process.stderr.write(`${formatCompositionProblems(result.problems)}\n`);
  process.exit(1);
}
for (const hint of result.hints) process.stderr.write(`hint: ${hint}\n`);

if (check) {
  const committed = existsSync(outputPath) ? await readFile(outputPath, 'utf8') : '';
  if (committed === result.supergraphSdl) {
    process.stdout.write(`supergraph.graphql is up to date (${subgraphs.map((s) => s.name).join(', ')})\n`);
  } else {
    const what = committed === '' ? 'is missing' : 'differs from what the subgraphs compose to';
    process.stderr.write(`supergraph.graphql ${what}. Run \`npm run supergraph\` and commit the result.\n`);
    process.stderr.write(`${summarizeDiff(committed, result.supergraphSdl)}\n`);
    process.exit(1);
  }
} else {
  await writeFile(outputPath, result.supergraphSdl);
  process.stdout.write(`wrote ${outputPath} (${subgraphs.map((s) => s.name).join(', ')})\n`);
}
