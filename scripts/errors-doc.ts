// Writes docs/errors.md from the error registry, or with --check fails when the committed file
// differs from what the registry would generate.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderErrorsMarkdown } from '@votemesh/common/errors-markdown';

const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
const expected = renderErrorsMarkdown();

if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== expected) {
    console.error('docs/errors.md is out of date with common/src/errors.ts: run `npm run docs:errors`.');
    process.exit(1);
  }
  console.log('docs/errors.md matches the error registry');
} else {
  await writeFile(target, expected);
  console.log(`wrote ${target}`);
}
