/**
 * The agent's Prometheus metrics, on a registry of its own (prom-client). Names follow Prometheus
 * conventions: `_total` counters, `_seconds` units, one `stack` label per environment.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StackResult } from "../services/workspace";

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  // The event loop's lag is sampled every 100 ms, not prom-client's 10 ms: a timer 100 times a
  // second cost an idle agent 0.9 % of a core, more than its polls.
  collectDefaultMetrics({ register: registry, prefix: "gitops_agent_", eventLoopMonitoringPrecision: 100 });
  const m = {
    registry,
    ready: new Gauge({ name: "gitops_agent_ready", help: "1 once the agent has completed its first sync", registers: [registry] }),
    syncs: new Counter({
      name: "gitops_agent_syncs_total",
      help: "Syncs of the branch by outcome: applied, in_sync, failed, backoff (waited out a failed commit's backoff)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    fetchFailures: new Counter({
      name: "gitops_agent_fetch_failures_total",
      help: "Fetches of the repository that failed",
      registers: [registry],
    }),
    backoff: new Gauge({
      name: "gitops_agent_backoff_seconds",
      help: "Current backoff before the failed commit is tried again; 0 when nothing is failing",
      registers: [registry],
    }),
    webhooks: new Counter({
      name: "gitops_agent_webhooks_total",
      help: "Webhooks received, by result: accepted (a push to the branch), ignored (another event or branch), unauthorized",
      labelNames: ["result"],
      registers: [registry],
    }),
    stackResult: new Gauge({
      name: "gitops_stack_sync_success",
      help: "1 if the stack's last update succeeded, 0 if it failed",
      labelNames: ["stack"],
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: "gitops_stack_last_success_timestamp_seconds",
      help: "When the stack's last successful update ended (Unix time)",
      labelNames: ["stack"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "gitops_stack_update_duration_seconds",
      help: "Duration of stack updates, failed ones included",
      labelNames: ["stack", "result"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    failures: new Counter({
      name: "gitops_stack_failures_total",
      help: "Failed stack updates",
      labelNames: ["stack"],
      registers: [registry],
    }),
    drifted: new Gauge({
      name: "gitops_stack_drifted_resources",
      help: "Resources that differ from the stack's recorded deployment at the last drift check (0 after a successful remediation)",
      labelNames: ["stack"],
      registers: [registry],
    }),
    driftChecks: new Counter({
      name: "gitops_stack_drift_checks_total",
      help: "Drift checks by result: in_sync, drifted, remediated, failed",
      labelNames: ["stack", "result"],
      registers: [registry],
    }),
    gateWaiting: new Gauge({
      name: "gitops_stack_gate_waiting",
      help: "1 while a gated stack waits at its promotion gate (soaking, or its upstream's checks failing), 0 once it runs its candidate",
      labelNames: ["stack"],
      registers: [registry],
    }),
    promotions: new Counter({
      name: "gitops_stack_promotions_total",
      help: "Commits promoted to a gated stack from its upstream",
      labelNames: ["stack"],
      registers: [registry],
    }),
    checks: new Counter({
      name: "gitops_stack_checks_total",
      help: "Verification checks run after a stack's update, by check and result: passed, failed",
      labelNames: ["stack", "check", "result"],
      registers: [registry],
    }),
    checkRollbacks: new Counter({
      name: "gitops_stack_check_rollbacks_total",
      help: "Rollbacks to the previous commit after a failed check (onFailure: rollback)",
      labelNames: ["stack"],
      registers: [registry],
    }),
  };
  return m;
}

/** Records one apply's gates, promotions, checks and the rollbacks they caused. */
export function recordPromotions(m: Metrics, results: StackResult[]): void {
  for (const r of results) {
    if (r.gate) m.gateWaiting.set({ stack: r.stack }, r.status === "waiting" ? 1 : 0);
    if (r.promotion) m.promotions.inc({ stack: r.stack });
    for (const c of r.checks ?? []) m.checks.inc({ stack: r.stack, check: c.name, result: c.passed ? "passed" : "failed" });
    if (r.rolledBackTo) m.checkRollbacks.inc({ stack: r.stack });
  }
}

/** Records the stack updates of one apply or remediation; skipped stacks leave their series as they were. */
export function recordUpdates(m: Metrics, results: StackResult[], now: Date): void {
  for (const r of results) {
    if (r.status === "skipped" || r.status === "waiting" || r.operation !== "update") continue;
    const ok = r.status === "succeeded";
    m.stackResult.set({ stack: r.stack }, ok ? 1 : 0);
    m.duration.observe({ stack: r.stack, result: r.status }, r.durationMs / 1000);
    if (ok) m.lastSuccess.set({ stack: r.stack }, now.getTime() / 1000);
    else m.failures.inc({ stack: r.stack });
  }
}

/** Records one drift pass: a detection result per stack, or the remediation that followed it. */
export function recordDrift(m: Metrics, results: StackResult[]): void {
  for (const r of results) {
    if (r.status === "skipped" || r.status === "waiting") continue;
    if (r.operation === "drift") {
      const result = r.status === "failed" ? "failed" : r.changes.length ? "drifted" : "in_sync";
      if (r.status === "succeeded") m.drifted.set({ stack: r.stack }, r.changes.length);
      m.driftChecks.inc({ stack: r.stack, result });
    } else {
      if (r.status === "succeeded") m.drifted.set({ stack: r.stack }, 0);
      m.driftChecks.inc({ stack: r.stack, result: r.status === "succeeded" ? "remediated" : "failed" });
    }
  }
}
