// The dashboard and alert rules parse and only query metrics the code exports; the linter itself
// catches what it should.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { extractMetricNames, knownSeriesNames, lintAlertRules, lintDashboard, markdownAnchors } from '../src/telemetry/lint-observability.ts';
import { LATENCY_BUCKETS_SECONDS, METRICS, type MetricName } from '../src/telemetry/names.ts';

const DASHBOARD = new URL('../../observability/grafana/votemesh-dashboard.json', import.meta.url);
const ALERTS = new URL('../../observability/prometheus/alerts.yaml', import.meta.url);
const ROOT = new URL('../../', import.meta.url);
const RUNBOOK_DOCUMENT = 'docs/observability.md';

describe('observability lint', () => {
  let known: Set<string>;
  let runbooks: { document: string; anchors: Set<string> };
  before(async () => {
    known = await knownSeriesNames();
    runbooks = { document: RUNBOOK_DOCUMENT, anchors: markdownAnchors(await readFile(new URL(RUNBOOK_DOCUMENT, ROOT), 'utf8')) };
  });

  describe('the committed files', () => {
    it('the Grafana dashboard is valid and names only exported metrics', async () => {
      assert.deepEqual(lintDashboard('votemesh-dashboard.json', await readFile(DASHBOARD, 'utf8'), known), []);
    });

    it('the Prometheus rules are valid, name only exported metrics and link existing runbooks', async () => {
      assert.deepEqual(lintAlertRules('alerts.yaml', await readFile(ALERTS, 'utf8'), known, runbooks), []);
    });

    it('every link to a section of observability.md, in docs, README and observability/, finds its heading', async () => {
      const files = [
        'README.md',
        ...(await readdir(new URL('docs/', ROOT), { recursive: true })).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`),
        ...(await readdir(new URL('observability/', ROOT), { recursive: true }))
          .filter((name) => /\.(json|ya?ml|ts)$/.test(name))
          .map((name) => `observability/${name}`),
      ];
      const broken: string[] = [];
      let links = 0;
      for (const file of files) {
        const text = await readFile(new URL(file, ROOT), 'utf8');
        const anchors = [...text.matchAll(/observability\.md#([A-Za-z0-9_-]+)/g)].map((match) => match[1] ?? '');
        // Links within the document itself.
        if (file === RUNBOOK_DOCUMENT) anchors.push(...[...text.matchAll(/\]\(#([A-Za-z0-9_-]+)\)/g)].map((match) => match[1] ?? ''));
        for (const anchor of anchors) {
          links += 1;
          if (!runbooks.anchors.has(anchor)) broken.push(`${file}: #${anchor}`);
        }
      }
      assert.ok(links >= 8, `found the links (${links})`);
      assert.deepEqual(broken, []);
    });

    it("the dashboard shows the issue's panels", async () => {
      const text = await readFile(DASHBOARD, 'utf8');
      for (const metric of [
        METRICS.votesTotal,
        METRICS.workerVotesAppliedTotal,
        METRICS.gatewayTallyDeliverySeconds,
        METRICS.streamLag,
        METRICS.streamPending,
        METRICS.streamLength,
        METRICS.gatewayOperationsTotal,
        METRICS.gatewayWsConnections,
        METRICS.gatewaySseConnections,
        METRICS.gatewaySubscriptions,
        METRICS.gatewayUpstreamSubscriptions,
        METRICS.workerBatchApplySeconds,
      ]) {
        assert.ok(text.includes(metric.name), `dashboard shows ${metric.name}`);
      }
    });

    it('alerts cover lag, worker down, error rate, delivery latency, slow consumers and the audit spool', async () => {
      const text = await readFile(ALERTS, 'utf8');
      for (const alert of [
        'VotemeshStreamLagGrowing',
        'VotemeshAuditSpoolGrowing',
        'VotemeshAuditSpoolWritesFailing',
        'VotemeshWorkerDown',
        'VotemeshGatewayErrorRateHigh',
        'VotemeshSubscriptionDeliverySlow',
        'VotemeshSlowConsumersDropped',
      ]) {
        assert.match(text, new RegExp(`alert: ${alert}\\b`));
      }
    });
  });

  describe('extractMetricNames', () => {
    const cases: [string, string[]][] = [
      ['up', ['up']],
      ['votemesh_stream_lag > 1000', ['votemesh_stream_lag']],
      [
        'sum by (outcome) (rate(votemesh_gateway_operations_total{outcome!="ok",operation_name=~"cast.*"}[$__rate_interval]))',
        ['votemesh_gateway_operations_total'],
      ],
      [
        'histogram_quantile(0.99, sum by (le) (rate(votemesh_gateway_tally_delivery_seconds_bucket[5m]))) > 0.5',
        ['votemesh_gateway_tally_delivery_seconds_bucket'],
      ],
      ['deriv(votemesh_stream_lag[5m]) > 0 and votemesh_stream_pending offset 1h > 1e3', ['votemesh_stream_lag', 'votemesh_stream_pending']],
      ['(sum(up{app=~"(votemesh-)?worker"}) or vector(0)) == 0', ['up']],
      ['a / on (pod) group_left (node) b', ['a', 'b']],
      ['max_over_time(votemesh_stream_length[10m:1m])', ['votemesh_stream_length']],
      ['sum(rate(votemesh_votes_total{reason="rate(evil_metric[5m])"}[1m]))', ['votemesh_votes_total']],
    ];
    for (const [expr, names] of cases) {
      it(`reads ${names.join(', ')} from ${expr}`, () => {
        assert.deepEqual(extractMetricNames(expr), names);
      });
    }
  });

  describe('catches mistakes', () => {
    it('names a metric no process exports', () => {
      const dashboard = JSON.stringify({
        uid: 'u',
        title: 't',
        panels: [{ id: 1, type: 'timeseries', title: 'Typo', targets: [{ refId: 'A', expr: 'sum(rate(votemesh_vote_total[1m]))' }] }],
      });
      const problems = lintDashboard('d.json', dashboard, known);
      assert.equal(problems.length, 1);
      assert.match(problems[0]?.message ?? '', /"votemesh_vote_total"/);
      assert.equal(problems[0]?.where, 'panel "Typo" target A');
    });

    it('refuses an expression that is not PromQL, and reads Grafana interval variables as durations', () => {
      const dashboard = (expr: string) =>
        JSON.stringify({ uid: 'u', title: 't', panels: [{ id: 1, type: 'timeseries', title: 'P', targets: [{ refId: 'A', expr }] }] });
      assert.deepEqual(lintDashboard('d.json', dashboard('sum(rate(votemesh_votes_total[$__rate_interval]))'), known), []);
      const problems = lintDashboard('d.json', dashboard('sum(rate(votemesh_votes_total[5m])'), known);
      assert.equal(problems.length, 1);
      assert.match(problems[0]?.message ?? '', /^expr is not valid PromQL: unexpected end at character 35$/);
      const yaml = `groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: votemesh_stream_lag > > 1000\n        labels: { severity: info }\n        annotations: { summary: s, description: d }\n`;
      assert.match(lintAlertRules('a.yaml', yaml, known)[0]?.message ?? '', /^expr is not valid PromQL: unexpected "> 1000" at character 23$/);
    });

    it('accepts histogram series suffixes only on histograms', () => {
      assert.ok(known.has('votemesh_worker_batch_apply_seconds_bucket'));
      assert.ok(known.has('votemesh_worker_batch_apply_seconds_count'));
      assert.ok(!known.has('votemesh_stream_lag_bucket'));
      assert.ok(known.has('process_resident_memory_bytes'), 'prom-client default metrics are known');
    });

    it('rejects invalid JSON and YAML', () => {
      assert.match(lintDashboard('d.json', '{ "panels": [', known)[0]?.message ?? '', /not valid JSON/);
      assert.match(lintAlertRules('a.yaml', 'groups: [\n  - name: x', known)[0]?.message ?? '', /not valid YAML/);
    });

    it('requires a runbook_url naming a heading of the runbook document', () => {
      const alert = (url: string) =>
        `groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels: { severity: info }\n        annotations: { summary: s, description: d${url} }\n`;
      const anchors = { document: RUNBOOK_DOCUMENT, anchors: markdownAnchors('# Title\n## Runbooks\n### VotemeshA\n') };
      assert.deepEqual(lintAlertRules('a.yaml', alert(`, runbook_url: ${RUNBOOK_DOCUMENT}#votemesha`), known, anchors), []);
      const messages = ['', `, runbook_url: ${RUNBOOK_DOCUMENT}#alerts`, ', runbook_url: docs/other.md#votemesha'].map(
        (url) => lintAlertRules('a.yaml', alert(url), known, anchors)[0]?.message,
      );
      assert.match(messages[0] ?? '', /needs annotations.runbook_url/);
      assert.match(messages[1] ?? '', /#alerts is not a section/);
      assert.match(messages[2] ?? '', /is not a section/);
    });

    it('makes anchors the way GitHub does', () => {
      const anchors = markdownAnchors('# A `code` title!\n## Dashboard and alerts\n```\n# not a heading\n```\n## Dashboard and alerts\n### Operation labels\n');
      assert.deepEqual([...anchors], ['a-code-title', 'dashboard-and-alerts', 'dashboard-and-alerts-1', 'operation-labels']);
    });

    it('requires severity, annotations and a valid for on alerts', () => {
      const yaml = 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: soon\n';
      const messages = lintAlertRules('a.yaml', yaml, known).map((problem) => problem.message);
      assert.deepEqual(messages, [
        'has a bad "for": soon',
        'needs labels.severity of critical, warning or info',
        'needs annotations.summary',
        'needs annotations.description',
      ]);
    });
  });

  describe('METRICS', () => {
    // Prometheus naming (https://prometheus.io/docs/practices/naming/) and labels a client cannot grow.
    it('follow the naming conventions: prefix, _total on counters only, base units', () => {
      const problems: string[] = [];
      for (const [key, metric] of Object.entries(METRICS) as [string, MetricName][]) {
        const { name, kind } = metric;
        if (!/^votemesh_[a-z][a-z0-9_]*[a-z0-9]$/.test(name)) problems.push(`${key}: ${name} is not votemesh_ snake case`);
        if ((kind === 'counter') !== name.endsWith('_total')) problems.push(`${key}: ${name} (${kind}) — counters and only counters end in _total`);
        if (/_(count|sum|bucket)$/.test(name)) problems.push(`${key}: ${name} ends in a suffix Prometheus reserves for histograms`);
        if (/_(ms|millis|milliseconds|micros|microseconds|minutes|hours|kb|kilobytes|mb|megabytes|percent)(_|$)/.test(name))
          problems.push(`${key}: ${name} is not in a base unit (seconds, bytes, ratio)`);
        if (metric.buckets === LATENCY_BUCKETS_SECONDS && !name.endsWith('_seconds')) problems.push(`${key}: ${name} has latency buckets but no _seconds`);
      }
      assert.deepEqual(problems, []);
    });

    it('carry no label whose values come from users, voters or requests', () => {
      const unbounded = /(^|_)(voter|user|subject|receipt|request|trace|span|token|ip|address|url|path|query|message|email)(_|$)/;
      const labels = (Object.values(METRICS) as MetricName[]).flatMap((metric) => (metric.labelNames ?? []).map((label) => `${metric.name}{${label}}`));
      assert.deepEqual(
        labels.filter((label) => unbounded.test(label.slice(label.indexOf('{') + 1, -1))),
        [],
      );
    });

    it('every metric registers with prom-client under its name, kind, labels and buckets', async () => {
      const registry = new Registry();
      for (const metric of Object.values(METRICS) as MetricName[]) {
        const config = { name: metric.name, help: metric.help, labelNames: [...(metric.labelNames ?? [])], registers: [registry] };
        if (metric.kind === 'counter') new Counter(config);
        else if (metric.kind === 'gauge') new Gauge(config);
        else new Histogram({ ...config, ...(metric.buckets ? { buckets: [...metric.buckets] } : {}) });
      }
      const exported = await registry.getMetricsAsJSON();
      assert.deepEqual(
        exported.map((metric) => [metric.name, metric.type]).sort(),
        (Object.values(METRICS) as MetricName[]).map((metric) => [metric.name, metric.kind]).sort(),
      );
      assert.equal(new Set(exported.map((metric) => metric.name)).size, Object.keys(METRICS).length, 'names are unique');
    });
  });
});
