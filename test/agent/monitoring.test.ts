/**
 * The Grafana dashboard and the alert rules in dashboards/ use only what the agent exports: every
 * metric name, every label, and every value of the labels with a fixed set of values, as read from
 * the agent's own metrics registry. A renamed metric or label fails here, not on a blank panel.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { createMetrics } from "../../runner/agent/metrics";
import { PROJECT } from "../helpers/repo";

const DASHBOARD = path.join(PROJECT, "dashboards", "gitops-agent.json");
const RULES = path.join(PROJECT, "dashboards", "gitops-agent-alerts.yml");

/** The PromQL functions and keywords the expressions may use. */
const FUNCTIONS = new Set([
  "absent",
  "histogram_quantile",
  "increase",
  "rate",
  "sum",
  "max",
  "min",
  "avg",
  "count",
  "time",
  "label_values",
]);
const KEYWORDS = new Set(["by", "without", "and", "or", "unless", "bool", "offset"]);
/** Labels that Prometheus adds to every scraped series. */
const TARGET_LABELS = ["instance", "job"];

interface Exported {
  /** Sample name -> its labels (a histogram's _bucket, _sum and _count each). */
  series: Map<string, Set<string>>;
  /** Label -> every value it takes, for the labels whose values the agent's help text lists. */
  values: Map<string, Set<string>>;
}

/** What the agent's registry exports, from the registry itself. */
async function exported(): Promise<Exported> {
  const m = createMetrics();
  const series = new Map<string, Set<string>>();
  for (const metric of m.registry.getMetricsAsArray()) {
    // The metric objects behind the registry's plain view carry their label names.
    const { name, type, labelNames } = metric as unknown as { name: string; type: string; labelNames: string[] };
    const labels = new Set([...labelNames, ...TARGET_LABELS]);
    if (type === "histogram") {
      series.set(`${name}_bucket`, new Set([...labels, "le"]));
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    } else series.set(name, labels);
  }
  // The values the agent sets, as its help texts list them.
  const values = new Map<string, Set<string>>([
    ["outcome", new Set(["applied", "in_sync", "failed", "backoff"])],
    ["result", new Set(["accepted", "unauthorized", "in_sync", "drifted", "remediated", "failed", "succeeded"])],
  ]);
  return { series, values };
}

/** The metric names, labels and fixed label values one PromQL expression (or Grafana query) uses. */
export function promqlNames(expr: string): { metrics: string[]; labels: string[]; matchers: [string, string][] } {
  const labels: string[] = [];
  const matchers: [string, string][] = [];
  let e = expr.replace(/\$\{?\w+\}?/g, "");
  e = e.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const [, label, op, value] of inner.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      labels.push(label);
      if (op === "=") matchers.push([label, value]);
    }
    return " ";
  });
  e = e.replace(/\b(?:by|without)\s*\(([^)]*)\)/g, (_, inner: string) => (labels.push(...inner.split(",").map((l) => l.trim())), " "));
  e = e.replace(/"(?:[^"\\]|\\.)*"|\[[^\]]*\]/g, " ");
  // label_values(metric, label): its second argument is a label.
  e = e.replace(/\blabel_values\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)/g, (_, metric: string, label: string) => (labels.push(label), ` ${metric} `));
  const metrics: string[] = [];
  for (const [, name, call] of e.matchAll(/\b([a-zA-Z_:][\w:]*)\b(\s*\()?/g)) {
    if (call) assert.ok(FUNCTIONS.has(name), `${expr}: ${name}() is not among the functions this test knows`);
    else if (!KEYWORDS.has(name)) metrics.push(name);
  }
  return { metrics, labels, matchers };
}

function check(where: string, expr: string, x: Exported): void {
  const { metrics, labels, matchers } = promqlNames(expr);
  assert.ok(metrics.length, `${where}: no metric in ${expr}`);
  for (const name of metrics) assert.ok(x.series.has(name), `${where}: ${name} is not a metric the agent exports (${expr})`);
  const known = new Set(metrics.flatMap((n) => [...x.series.get(n)!]));
  for (const label of labels) assert.ok(known.has(label), `${where}: no metric of ${expr} has a label ${label}`);
  for (const [label, value] of matchers)
    if (x.values.has(label)) assert.ok(x.values.get(label)!.has(value), `${where}: ${label}="${value}" is a value the agent never sets`);
}

test("every query of the Grafana dashboard is on metrics and labels the agent exports", async () => {
  const x = await exported();
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, "utf8"));
  const panels = (
    dashboard.panels as { id: number; type: string; title: string; targets?: { expr: string; legendFormat?: string }[] }[]
  ).filter((p) => p.type !== "row");
  assert.ok(panels.length >= 8);
  assert.equal(new Set(dashboard.panels.map((p: { id: number }) => p.id)).size, dashboard.panels.length, "panel ids are unique");
  const used = new Set<string>();
  for (const p of panels) {
    assert.ok(p.targets?.length, `panel ${p.title} has a query`);
    for (const t of p.targets!) {
      check(`panel ${p.title}`, t.expr, x);
      promqlNames(t.expr).metrics.forEach((n) => used.add(n));
      for (const [, label] of (t.legendFormat ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g))
        assert.ok(
          promqlNames(t.expr).metrics.some((n) => x.series.get(n)!.has(label)),
          `panel ${p.title}: the legend's {{${label}}} is no label of ${t.expr}`,
        );
    }
  }
  for (const v of dashboard.templating.list) check(`variable ${v.name}`, v.query.query, x);
  assert.deepEqual(
    dashboard.__inputs.map((i: { name: string }) => i.name),
    ["DS_PROMETHEUS"],
    "Grafana asks for the Prometheus data source on import",
  );
  // Each of the points has a panel: sync success per stack, update durations, failures, drift, backoff.
  for (const name of [
    "gitops_stack_sync_success",
    "gitops_stack_update_duration_seconds_bucket",
    "gitops_stack_failures_total",
    "gitops_stack_drifted_resources",
    "gitops_stack_drift_checks_total",
    "gitops_agent_backoff_seconds",
    "gitops_agent_syncs_total",
  ])
    assert.ok(used.has(name), `the dashboard shows ${name}`);
});

test("every alert rule is on metrics and labels the agent exports", async () => {
  const x = await exported();
  const file = parse(fs.readFileSync(RULES, "utf8")) as {
    groups: {
      name: string;
      rules: { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: Record<string, string> }[];
    }[];
  };
  const rules = file.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 5);
  for (const r of rules) {
    check(`alert ${r.alert}`, r.expr, x);
    assert.match(r.alert, /^[A-Z][A-Za-z]+$/);
    assert.ok(["critical", "warning", "info"].includes(r.labels.severity), `${r.alert}: severity ${r.labels.severity}`);
    assert.ok(r.annotations.summary, `${r.alert} says what is wrong`);
    if (r.for) assert.match(r.for, /^\d+[smhd]$/);
    for (const [, label] of Object.values(r.annotations)
      .join(" ")
      .matchAll(/\$labels\.(\w+)/g))
      assert.ok(
        promqlNames(r.expr).metrics.some((n) => x.series.get(n)!.has(label)),
        `${r.alert}: its annotation's $labels.${label} is no label of ${r.expr}`,
      );
  }
});

test("the PromQL reader finds what the checks rely on", () => {
  assert.deepEqual(
    promqlNames(
      'histogram_quantile(0.95, sum by (le, stack) (increase(gitops_stack_update_duration_seconds_bucket{stack=~"$stack"}[6h])))',
    ),
    { metrics: ["gitops_stack_update_duration_seconds_bucket"], labels: ["stack", "le", "stack"], matchers: [] },
  );
  assert.deepEqual(promqlNames('increase(gitops_agent_webhooks_total{result="unauthorized"}[1h]) > 5').matchers, [
    ["result", "unauthorized"],
  ]);
  assert.deepEqual(promqlNames("label_values(gitops_stack_sync_success, stack)"), {
    metrics: ["gitops_stack_sync_success"],
    labels: ["stack"],
    matchers: [],
  });
});
