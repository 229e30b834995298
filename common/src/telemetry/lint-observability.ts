// Checks the Grafana dashboard and Prometheus rules in observability/ against the code: both files
// parse, their structure is what Grafana/Prometheus load, every PromQL expression parses (the
// grammar of Prometheus's own UI, @prometheus-io/lezer-promql), and every metric it names is one
// the processes export (METRICS in names.ts, prom-client's default process metrics,
// or Prometheus's own `up`). Run by observability/lint.ts (CI) and common/test/observability-lint.test.ts.
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { METRICS, seriesNames, type MetricName } from './names.ts';

export interface LintProblem {
  readonly file: string;
  /** Where in the file, e.g. `panel "Votes/s" target A` or `rule VotemeshWorkerDown`. */
  readonly where: string;
  readonly message: string;
}

/** PromQL functions, aggregations and keywords: identifiers that are never metric names. */
const PROMQL_WORDS = new Set([
  // aggregation operators
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  // keywords and modifiers
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
  // functions
  'abs',
  'absent',
  'absent_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_stddev',
  'histogram_stdvar',
  'histogram_sum',
  'double_exponential_smoothing',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'ln',
  'log2',
  'log10',
  'minute',
  'month',
  'predict_linear',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sort_by_label',
  'sort_by_label_desc',
  'sqrt',
  'time',
  'timestamp',
  'vector',
  'year',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'quantile_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
  'mad_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'cos',
  'cosh',
  'sin',
  'sinh',
  'tan',
  'tanh',
  'deg',
  'rad',
  'pi',
]);

/**
 * The metric names a PromQL expression reads. Strips string literals, label matchers `{…}`,
 * ranges/subqueries `[…]`, grouping label lists (`by (…)`, `on (…)`, …), Grafana variables
 * (`$__rate_interval`, `${var}`), numbers and durations; every identifier left that is not a
 * PromQL function or keyword is a metric name.
 */
export function extractMetricNames(expr: string): string[] {
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, ' ')
    .replace(/#[^\n]*/g, ' ');
  rest = rest.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  rest = rest.replace(/\b\d+(\.\d+)?(e[+-]?\d+)?([smhdwy]|ms)?\b/gi, ' ');
  const names = new Set<string>();
  for (const [word] of rest.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    if (!PROMQL_WORDS.has(word.toLowerCase())) names.add(word);
  }
  return [...names];
}

/** Every series name Prometheus can hold for votemesh: METRICS, prom-client defaults, `up`. */
export async function knownSeriesNames(): Promise<Set<string>> {
  const names = new Set<string>(['up']);
  for (const metric of Object.values(METRICS) as MetricName[]) for (const name of seriesNames(metric)) names.add(name);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const name of seriesNames({ name: metric.name, help: metric.help, kind: String(metric.type) === 'histogram' ? 'histogram' : 'gauge' }))
      names.add(name);
  }
  return names;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkExpr(file: string, where: string, expr: unknown, known: ReadonlySet<string>, problems: LintProblem[]): void {
  if (typeof expr !== 'string' || expr.trim() === '') {
    problems.push({ file, where, message: 'has no PromQL expr' });
    return;
  }
  const syntaxError = promqlSyntaxError(expr);
  if (syntaxError) problems.push({ file, where, message: `expr is not valid PromQL: ${syntaxError}` });
  const names = extractMetricNames(expr);
  if (names.length === 0) problems.push({ file, where, message: `expr reads no metric: ${expr}` });
  for (const name of names) {
    if (!known.has(name))
      problems.push({ file, where, message: `names metric "${name}", which no votemesh process exports (add it to METRICS in common/src/telemetry/names.ts)` });
  }
}

/**
 * Where `expr` stops being PromQL, or undefined when it parses. Grafana's interval variables
 * (`$__rate_interval`, `$__interval`, `$__range`) stand for a duration, so they are read as one.
 */
export function promqlSyntaxError(expr: string): string | undefined {
  const text = expr.replace(/\$__(?:rate_interval|interval|range)\b/g, '5m');
  let at: number | undefined;
  promqlParser.parse(text).iterate({
    enter: (node) => {
      if (at === undefined && node.type.isError) at = node.from;
      return at === undefined;
    },
  });
  if (at === undefined) return undefined;
  const near = text.slice(at, at + 24).replace(/\s+/g, ' ');
  return `unexpected ${near === '' ? 'end' : `"${near}"`} at character ${at + 1}`;
}

/** Lints a Grafana dashboard (the JSON text of a dashboard model). */
export function lintDashboard(file: string, text: string, known: ReadonlySet<string>): LintProblem[] {
  const problems: LintProblem[] = [];
  let dashboard: unknown;
  try {
    dashboard = JSON.parse(text);
  } catch (error) {
    return [{ file, where: '(file)', message: `is not valid JSON: ${error instanceof Error ? error.message : String(error)}` }];
  }
  if (!isRecord(dashboard)) return [{ file, where: '(file)', message: 'is not a JSON object' }];
  for (const key of ['uid', 'title'] as const) {
    if (typeof dashboard[key] !== 'string' || dashboard[key] === '') problems.push({ file, where: '(dashboard)', message: `needs a "${key}"` });
  }
  const panels: Record<string, unknown>[] = [];
  const collect = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const panel of list) {
      if (!isRecord(panel)) continue;
      panels.push(panel);
      collect(panel.panels);
    }
  };
  collect(dashboard.panels);
  if (panels.length === 0) problems.push({ file, where: '(dashboard)', message: 'has no panels' });
  const ids = new Set<unknown>();
  for (const panel of panels) {
    const title = typeof panel.title === 'string' ? panel.title : `#${String(panel.id)}`;
    if (ids.has(panel.id)) problems.push({ file, where: `panel "${title}"`, message: `reuses panel id ${String(panel.id)}` });
    ids.add(panel.id);
    if (panel.type === 'row') continue;
    const targets = Array.isArray(panel.targets) ? panel.targets : [];
    if (targets.length === 0) problems.push({ file, where: `panel "${title}"`, message: 'has no targets' });
    const refIds = new Set<unknown>();
    for (const target of targets) {
      if (!isRecord(target)) continue;
      const where = `panel "${title}" target ${String(target.refId)}`;
      if (refIds.has(target.refId)) problems.push({ file, where, message: 'reuses a refId' });
      refIds.add(target.refId);
      checkExpr(file, where, target.expr, known, problems);
    }
  }
  const variables = isRecord(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list : [];
  for (const variable of variables) {
    if (isRecord(variable) && variable.type === 'query') {
      const query = isRecord(variable.query) ? variable.query.query : variable.query;
      const metric = typeof query === 'string' ? /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(query)?.[1] : undefined;
      if (metric && !known.has(metric))
        problems.push({ file, where: `variable ${String(variable.name)}`, message: `names metric "${metric}", which no votemesh process exports` });
    }
  }
  return problems;
}

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const SEVERITIES = new Set(['critical', 'warning', 'info']);

/**
 * The anchors of a Markdown document's headings, as GitHub makes them: lower case, punctuation
 * other than `-` and `_` dropped, spaces to `-`, a repeated slug suffixed `-1`, `-2`, ….
 */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = (heading[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    let slug = base;
    for (let n = 1; anchors.has(slug); n += 1) slug = `${base}-${n}`;
    anchors.add(slug);
  }
  return anchors;
}

/** Where alert runbooks live: `runbook_url` must be `<document>#<anchor>` with an anchor in `anchors`. */
export interface RunbookDocument {
  readonly document: string;
  readonly anchors: ReadonlySet<string>;
}

/**
 * Lints a Prometheus rules file (`groups:`, also the `spec` of a PrometheusRule resource). With
 * `runbooks`, every alert needs an `annotations.runbook_url` pointing at a heading of that document.
 */
export function lintAlertRules(file: string, text: string, known: ReadonlySet<string>, runbooks?: RunbookDocument): LintProblem[] {
  const problems: LintProblem[] = [];
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    return [{ file, where: '(file)', message: `is not valid YAML: ${error instanceof Error ? error.message : String(error)}` }];
  }
  const spec = isRecord(document) && isRecord(document.spec) ? document.spec : document;
  const groups = isRecord(spec) && Array.isArray(spec.groups) ? spec.groups : undefined;
  if (!groups || groups.length === 0) return [{ file, where: '(file)', message: 'needs a non-empty "groups" list' }];
  const alertNames = new Set<string>();
  for (const group of groups) {
    if (!isRecord(group) || typeof group.name !== 'string') {
      problems.push({ file, where: '(groups)', message: 'every group needs a name' });
      continue;
    }
    const rules = Array.isArray(group.rules) ? group.rules : [];
    if (rules.length === 0) problems.push({ file, where: `group ${group.name}`, message: 'has no rules' });
    for (const rule of rules) {
      if (!isRecord(rule)) continue;
      const name = typeof rule.alert === 'string' ? rule.alert : typeof rule.record === 'string' ? rule.record : undefined;
      const where = `rule ${name ?? '(unnamed)'}`;
      if (!name) problems.push({ file, where, message: 'needs "alert" or "record"' });
      checkExpr(file, where, rule.expr, known, problems);
      if (typeof rule.alert !== 'string') continue;
      if (alertNames.has(rule.alert)) problems.push({ file, where, message: 'duplicates an alert name' });
      alertNames.add(rule.alert);
      if (rule.for !== undefined && (typeof rule.for !== 'string' || !DURATION.test(rule.for)))
        problems.push({ file, where, message: `has a bad "for": ${String(rule.for)}` });
      const severity = isRecord(rule.labels) ? rule.labels.severity : undefined;
      if (typeof severity !== 'string' || !SEVERITIES.has(severity))
        problems.push({ file, where, message: 'needs labels.severity of critical, warning or info' });
      const annotations = isRecord(rule.annotations) ? rule.annotations : {};
      for (const key of ['summary', 'description']) {
        if (typeof annotations[key] !== 'string' || annotations[key] === '') problems.push({ file, where, message: `needs annotations.${key}` });
      }
      if (runbooks) {
        const url = annotations.runbook_url;
        const [document, anchor] = typeof url === 'string' ? url.split('#') : [];
        if (typeof url !== 'string') problems.push({ file, where, message: `needs annotations.runbook_url (${runbooks.document}#<section>)` });
        else if (document !== runbooks.document || anchor === undefined || !runbooks.anchors.has(anchor))
          problems.push({ file, where, message: `runbook_url ${url} is not a section of ${runbooks.document}` });
      }
    }
  }
  return problems;
}
