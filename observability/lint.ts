// CI check: `node --import tsx observability/lint.ts`. Lints every dashboard and rules file in
// this folder against the metrics the code exports, and every alert's runbook_url against the
// headings of docs/observability.md (common/src/telemetry/lint-observability.ts).
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { knownSeriesNames, lintAlertRules, lintDashboard, markdownAnchors, type LintProblem } from '@votemesh/common/telemetry/lint-observability';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Alerts' runbook_url values are sections of this document (a path from the repository root). */
export const RUNBOOK_DOCUMENT = 'docs/observability.md';

export async function lintObservability(dir = here): Promise<{ files: string[]; problems: LintProblem[] }> {
  const known = await knownSeriesNames();
  const runbooks = { document: RUNBOOK_DOCUMENT, anchors: markdownAnchors(await readFile(join(dir, '..', RUNBOOK_DOCUMENT), 'utf8')) };
  const files: string[] = [];
  const problems: LintProblem[] = [];
  for (const [folder, pattern, lint] of [
    ['grafana', /\.json$/, lintDashboard],
    ['prometheus', /\.ya?ml$/, (file: string, text: string, names: ReadonlySet<string>) => lintAlertRules(file, text, names, runbooks)],
  ] as const) {
    for (const name of (await readdir(join(dir, folder))).filter((file) => pattern.test(file)).sort()) {
      const path = join(dir, folder, name);
      files.push(relative(dir, path));
      problems.push(...lint(relative(dir, path), await readFile(path, 'utf8'), known));
    }
  }
  return { files, problems };
}

if (import.meta.main) {
  const { files, problems } = await lintObservability();
  for (const problem of problems) console.error(`${problem.file}: ${problem.where}: ${problem.message}`);
  console.log(`observability lint: ${files.length} files, ${problems.length} problems`);
  process.exitCode = problems.length === 0 && files.length > 0 ? 0 : 1;
}
