/** Runs `gitops agent` as a child process and talks to it over its HTTP surface, as an operator would. */
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { atExit, freePort, killProcessesUnder } from "../fixtures/proc";
import { motoBin } from "../fixtures/s3";
import { startCli, type CliResult } from "./cli";

export interface AgentStatus {
  agent: {
    ready: boolean;
    busy?: "sync" | "drift";
    head?: string;
    lastSync?: { commit: string; outcome: string };
    /** Without a commit: the clone or fetch failed. */
    failure?: { commit?: string; attempts: number; error: string; backoffSeconds: number };
    lastDrift?: { drifted: string[]; remediated: string[]; failed: string[] };
  };
  stacks: { stack: string; commit?: string; result?: string; pin?: string; inSync?: boolean }[];
}

export interface AgentRun {
  pid: number;
  /** `http://127.0.0.1:<port>`, where it serves. */
  url: string;
  output(): string;
  done: Promise<CliResult>;
  get(path: string): Promise<Response>;
  status(): Promise<AgentStatus>;
  /** The value of the first sample of /metrics named `name` with these labels, parsed as Prometheus text (which fails on malformed text). */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** The sum of the samples named `name` with these labels, over every other label (0 when there is none). */
  metricSum(name: string, labels?: Record<string, string>): Promise<number>;
  /** POSTs a push event to /hooks/git, signed with `secret` unless it is undefined. */
  hook(body: string, secret?: string): Promise<Response>;
  /** Resolves as soon as the agent's log matches `pattern` (checked on every chunk, no polling delay); fails when the agent exits or time runs out first. */
  logged(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Polls `probe` until it holds; fails with the agent's output if it exits or time runs out. */
  waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

/**
 * How long a wait for the agent may last before the test fails instead of hanging: a deadline, not a
 * timing assertion. One engine run of a small program takes 20 s on an idle machine and several
 * times that on a loaded one (ts-node type-checks the program first).
 */
const DEADLINE_MS = 300_000;

export interface Family {
  /** The family name: a counter's without `_total`, a histogram's without `_bucket`/`_sum`/`_count`. */
  name: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** prometheus_client's reference parser: it raises on anything that is not valid exposition text. */
const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
fams = [{"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())]
json.dump(fams, sys.stdout)
`;

/** Parses Prometheus text format with the reference Python client (from provision/moto.sh's venv); throws on malformed text. */
export function parseMetrics(text: string): Family[] {
  return JSON.parse(
    execFileSync(path.join(motoBin(), "python"), ["-c", PARSE], { input: text, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }),
  );
}

/**
 * Starts the agent on a free loopback port. A test that fails midway still stops it (SIGTERM, as an
 * operator would), and it and the engine processes under `workDir` die with the test process.
 */
export async function startAgent(t: TestContext, workDir: string, args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const { child, done } = startCli(os.tmpdir(), ["agent", "--work-dir", workDir, "--listen", `127.0.0.1:${port}`, ...args], env);
  let output = "";
  const watchers: { pattern: RegExp; resolve(): void; reject(err: Error): void }[] = [];
  child.stderr!.on("data", (d) => {
    output += d;
    for (const w of watchers.filter((w) => w.pattern.test(output))) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  });
  const forget = atExit(() => {
    child.kill("SIGKILL");
    killProcessesUnder(workDir);
  });
  void done.then(forget);
  let exited = false;
  void done.then(() => {
    exited = true;
    for (const w of watchers.splice(0)) w.reject(new Error(`the agent exited before logging ${w.pattern}:\n${output.slice(-4000)}`));
  });
  const run: AgentRun = {
    pid: child.pid!,
    url: base,
    output: () => output,
    done,
    get: (p) => fetch(base + p),
    status: async () => (await (await fetch(`${base}/status`)).json()) as AgentStatus,
    metric: async (name, labels = {}) => {
      const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text()).flatMap((f) => f.samples);
      return samples.find((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;
    },
    metricSum: async (name, labels = {}) => {
      const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text()).flatMap((f) => f.samples);
      return samples
        .filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))
        .reduce((sum, m) => sum + m.value, 0);
    },
    hook: (body, secret) => {
      const headers: Record<string, string> = { "content-type": "application/json", "x-github-event": "push" };
      if (secret !== undefined) headers["x-hub-signature-256"] = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
      return fetch(`${base}/hooks/git`, { method: "POST", headers, body });
    },
    logged: (pattern, timeoutMs = DEADLINE_MS) => {
      if (pattern.test(output)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.splice(watchers.indexOf(watcher), 1);
          reject(new Error(`the agent did not log ${pattern} within ${timeoutMs / 1000} s; it said:\n${output.slice(-4000)}`));
        }, timeoutMs);
        const watcher = {
          pattern,
          resolve: () => (clearTimeout(timer), resolve()),
          reject: (err: Error) => (clearTimeout(timer), reject(err)),
        };
        watchers.push(watcher);
      });
    },
    waitFor: async (what, probe, timeoutMs = DEADLINE_MS) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exited) throw new Error(`the agent exited before ${what}:\n${output.slice(-4000)}`);
        if (await Promise.resolve(probe()).catch(() => false)) return;
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s; the agent said:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    stop: async (signal = "SIGTERM") => {
      if (!exited) child.kill(signal);
      return done;
    },
  };
  t.after(() => run.stop());
  await run.waitFor("the agent serves HTTP", async () => (await run.get("/healthz")).ok, 30_000);
  return run;
}
