/**
 * `npm run bench`: how much the runner adds to the engine. Each row of issue #17's table, measured
 * as a ratio against its yardstick in the same run (raw `pulumi` with exactly the environment the
 * runner gives the engine, `apply`, `--parallel 1`, `--all`, a bare `git fetch`), runs interleaved
 * so that the machine's load falls on both sides alike. Prints a table (median and spread) and
 * writes it, with every run, to bench/results/<time>.json.
 *
 * `npm run bench -- --quick` runs each measure fewer times.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createContext } from "../runner/services/context";
import { policyPacks } from "../runner/services/workspace";
import { engineEnv } from "../runner/services/engine";
import {
  benchRoot,
  BIN,
  childCpuSeconds,
  commitAll,
  copyDev,
  git,
  measure,
  median,
  PROJECT,
  scratchRepo,
  setReplicas,
  spread,
  treeRssMiB,
  type Run,
} from "./setup";

const quick = process.argv.includes("--quick");
const N = quick ? 2 : 5;

interface Row {
  measure: string;
  /** The row's figure: a ratio, seconds, or a percentage. */
  value: number;
  unit: "ratio" | "s" | "%" | "MiB";
  spread: number;
  goal: string;
  met: boolean;
  /** The two sides' medians and what else explains the figure. */
  detail: string;
  runs: Record<string, Run[] | number[]>;
}

const rows: Row[] = [];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ms = (runs: Run[]) => runs.map((r) => r.ms);
const procs = (runs: Run[]) => `${median(runs.map((r) => r.pulumi))} engine + ${median(runs.map((r) => r.git))} git processes`;

function say(text: string) {
  process.stderr.write(`bench: ${text}\n`);
}

/** `a` ÷ `b`, pair by pair: the ratio's median and spread. */
function ratioRow(measure: string, goal: number, a: Run[], b: Run[], names: [string, string], extra = ""): Row {
  const ratios = a.map((x, i) => x.ms / b[i].ms);
  const value = median(ratios);
  return {
    measure,
    value,
    unit: "ratio",
    spread: spread(ratios),
    goal: `≤ ${goal}`,
    met: value <= goal,
    detail: `${names[0]} ${s(median(ms(a)))} ÷ ${names[1]} ${s(median(ms(b)))}${extra}`,
    runs: { [names[0]]: a, [names[1]]: b },
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const load0 = os.loadavg();
  // The CLI as `npm ci` builds it (bin/gitops runs dist/ unless a source is newer).
  execFileSync("npm", ["run", "--silent", "build"], { cwd: PROJECT, stdio: "inherit" });
  const { root, env } = benchRoot();
  try {
    const gitops = (cwd: string, args: string[], o: { env?: NodeJS.ProcessEnv; memory?: boolean } = {}) =>
      measure(process.execPath, [BIN, ...args], { cwd, env: o.env ?? env, memory: o.memory });

    // --- one stack: dev ---
    say("one stack: deploying dev");
    const dir = scratchRepo(root, "one");
    await gitops(dir, ["apply"]);
    const { engine } = await createContext({}, env, dir);
    const engineProcessEnv = { ...env, ...engineEnv(engine) };
    const pulumi = path.join(engine.engineDir, "bin", "pulumi");
    // As the runner runs it: the stack's config from a private copy, so nothing the engine writes
    // back touches the tracked file, and the project's policy pack, which every preview and update
    // of the runner runs.
    const configCopy = path.join(root, "Pulumi.dev.yaml");
    const packs = policyPacks(dir).flatMap((p) => ["--policy-pack", p]);
    const raw = (args: string[], o: { env?: NodeJS.ProcessEnv; memory?: boolean } = {}) => {
      fs.copyFileSync(path.join(dir, "stacks", "Pulumi.dev.yaml"), configCopy);
      return measure(pulumi, [...args, ...packs, "--config-file", configCopy, "--non-interactive"], {
        cwd: dir,
        env: o.env ?? engineProcessEnv,
        memory: o.memory,
      });
    };

    say("gitops --help");
    const help: Run[] = [];
    const node0: Run[] = [];
    for (let i = 0; i < N + 2; i++) {
      node0.push(await measure(process.execPath, ["-e", "0"], { cwd: dir, env }));
      help.push(await gitops(dir, ["--help"]));
    }
    const helpRow = ratioRow("`gitops --help`", Infinity, help, node0, ["gitops --help", "node -e 0"]);
    rows.push({ ...helpRow, value: median(ms(help)) / 1000, unit: "s", goal: "≤ 0.25 s", met: median(ms(help)) <= 250 });

    say("preview, warm caches");
    const warmRaw: Run[] = [];
    const warm: Run[] = [];
    await raw(["preview", "--stack", "dev"]); // the caches of this checkout, warm
    for (let i = 0; i < N; i++) {
      warmRaw.push(await raw(["preview", "--stack", "dev"]));
      warm.push(await gitops(dir, ["preview", "--stack", "dev"]));
    }
    rows.push(
      ratioRow(
        "`gitops preview --stack dev` ÷ raw `pulumi preview`, warm caches",
        1.1,
        warm,
        warmRaw,
        ["gitops", "pulumi"],
        `; ${procs(warm)}`,
      ),
    );

    say("preview, cold caches (a fresh TMPDIR and Node compile cache each run)");
    const coldRaw: Run[] = [];
    const cold: Run[] = [];
    for (let i = 0; i < Math.min(N, 3); i++) {
      const fresh = () => {
        const tmp = fs.mkdtempSync(path.join(root, "tmp-"));
        return { tmp, e: { TMPDIR: tmp, NODE_COMPILE_CACHE: path.join(tmp, "node-compile-cache") } };
      };
      const a = fresh();
      coldRaw.push(await raw(["preview", "--stack", "dev"], { env: { ...engineProcessEnv, ...a.e }, memory: true }));
      const b = fresh();
      cold.push(await gitops(dir, ["preview", "--stack", "dev"], { env: { ...env, ...b.e }, memory: true }));
      for (const x of [a, b]) fs.rmSync(x.tmp, { recursive: true, force: true });
    }
    const peak = median(cold.map((r) => r.peakMiB ?? 0));
    rows.push({
      measure: "one-stack preview on a fresh runner (cold caches)",
      value: median(ms(cold)) / 1000,
      unit: "s",
      spread: spread(ms(cold)),
      goal: "≤ 2.5 s, ≤ 250 MiB",
      met: median(ms(cold)) <= 2500 && peak <= 250,
      detail: `${s(median(ms(cold)))}, ${peak.toFixed(0)} MiB peak (raw pulumi: ${s(median(ms(coldRaw)))}, ${median(coldRaw.map((r) => r.peakMiB ?? 0)).toFixed(0)} MiB)`,
      runs: { gitops: cold, pulumi: coldRaw },
    });

    say("apply against its own `pulumi up`, and rollback --to previous --yes against apply");
    const apply: Run[] = [];
    const up: Run[] = [];
    const rollback: Run[] = [];
    let replicas = 2;
    const change = (message: string) => {
      setReplicas(dir, "dev", replicas++);
      commitAll(dir, message);
      git(dir, "push", "-q", "origin", "main");
    };
    for (let i = 0; i < Math.min(N, 3); i++) {
      change(`bench: up ${i}`);
      // The engine's own policy-gated update: its preview, where stack policies refuse, then the update.
      up.push(await raw(["up", "--yes", "--stack", "dev"]));
      change(`bench: apply ${i}`);
      apply.push(await gitops(dir, ["apply"]));
      rollback.push(await gitops(dir, ["rollback", "--stack", "dev", "--to", "previous", "--yes"]));
      await gitops(dir, ["unpin", "--stack", "dev"]);
    }
    const beyond = apply.map((a, i) => a.ms - up[i].ms);
    rows.push({
      measure: "`apply` time beyond its own `pulumi up`, one stack",
      value: median(beyond) / 1000,
      unit: "s",
      spread: spread(beyond),
      goal: "≤ 0.5 s",
      met: median(beyond) <= 500,
      detail: `apply ${s(median(ms(apply)))} − pulumi up ${s(median(ms(up)))}; ${procs(apply)}`,
      runs: { apply, "pulumi up": up },
    });
    rows.push(
      ratioRow(
        "`rollback --to previous --yes` ÷ `apply` of the same change",
        1.2,
        rollback,
        apply,
        ["rollback", "apply"],
        `; ${procs(rollback)}`,
      ),
    );

    say("agent idle, --interval 10s, in sync");
    rows.push(await agentIdle(root, env));

    // --- many stacks: copies of dev ---
    say("many stacks: copies of dev");
    const many = scratchRepo(root, "many");
    await gitops(many, ["apply"]);
    const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `s${String(from + i + 1).padStart(3, "0")}`);
    const grow = (from: number, to: number) => {
      copyDev(many, names(from - 1, to - 1));
      commitAll(many, `${to} stacks`);
      git(many, "push", "-q", "origin", "main");
    };

    const statusRuns: Record<string, Run[]> = {};
    const statusAt = async (count: number, runs: number) => {
      statusRuns[count] = [];
      for (let i = 0; i < runs; i++) statusRuns[count].push(await gitops(many, ["status"]));
    };
    grow(1, 10);
    say("status, 10 stacks");
    await statusAt(10, Math.min(N, 3));

    grow(10, 20);
    say("20 stacks, 1 changed: preview against preview --all");
    git(many, "checkout", "-q", "-b", "one-changed");
    setReplicas(many, "s001", 7);
    commitAll(many, "scale s001");
    const one: Run[] = [];
    const all: Run[] = [];
    for (let i = 0; i < Math.min(N, 2); i++) {
      one.push(await gitops(many, ["preview", "--parallel", "2"]));
      all.push(await gitops(many, ["preview", "--all", "--parallel", "2"]));
    }
    rows.push(ratioRow("20 stacks, 1 changed: `preview` ÷ `preview --all`", 0.08, one, all, ["preview", "preview --all"]));

    say("4 affected stacks: --parallel 4 against --parallel 1");
    git(many, "checkout", "-q", "main");
    git(many, "checkout", "-q", "-b", "four-changed");
    for (const n of names(0, 4)) setReplicas(many, n, 5);
    commitAll(many, "scale four stacks");
    const p4: Run[] = [];
    const p1: Run[] = [];
    const cpu4: number[] = [];
    const cpu1: number[] = [];
    // The engine's own ratio is the floor: the same four previews, raw, all at once against one after another.
    const manyEngine = engineEnv((await createContext({}, env, many)).engine);
    const manyPacks = policyPacks(many).flatMap((p) => ["--policy-pack", p]);
    const rawPreview = (stack: string) => {
      const copy = path.join(root, `Pulumi.${stack}.yaml`);
      fs.copyFileSync(path.join(many, "stacks", `Pulumi.${stack}.yaml`), copy);
      return measure(pulumi, ["preview", "--stack", stack, ...manyPacks, "--config-file", copy, "--non-interactive"], {
        cwd: many,
        env: { ...env, ...manyEngine },
      });
    };
    const wallMs = async (work: () => Promise<unknown>) => {
      const t0 = performance.now();
      await work();
      return performance.now() - t0;
    };
    const raw4: number[] = [];
    const raw1: number[] = [];
    for (let i = 0; i < Math.min(N, 2); i++) {
      let c = childCpuSeconds();
      p4.push(await gitops(many, ["preview", "--parallel", "4"]));
      cpu4.push(childCpuSeconds() - c);
      c = childCpuSeconds();
      p1.push(await gitops(many, ["preview", "--parallel", "1"]));
      cpu1.push(childCpuSeconds() - c);
      raw4.push(await wallMs(() => Promise.all(names(0, 4).map(rawPreview))));
      raw1.push(
        await wallMs(async () => {
          for (const n of names(0, 4)) await rawPreview(n);
        }),
      );
    }
    const floor = median(raw4.map((x, i) => x / raw1[i]));
    rows.push(
      ratioRow(
        "4 affected stacks, `--parallel 4` ÷ `--parallel 1`",
        0.6,
        p4,
        p1,
        ["--parallel 4", "--parallel 1"],
        `; ${median(cpu4).toFixed(1)} ÷ ${median(cpu1).toFixed(1)} CPU-s; ${os.cpus().length} cores: the engine alone, the four raw previews at once ÷ in turn, ${s(median(raw4))} ÷ ${s(median(raw1))} = ${floor.toFixed(2)}`,
      ),
    );
    git(many, "checkout", "-q", "main");

    grow(20, 50);
    say("status, 50 stacks");
    await statusAt(50, Math.min(N, 3));
    grow(50, 200);
    say("status, 200 stacks");
    await statusAt(200, quick ? 1 : 2);
    const t = (n: number) => median(ms(statusRuns[n]));
    const perStack = (n: number) => t(n) / n;
    rows.push({
      measure: "`gitops status`, 50 deployed stacks (10 / 50 / 200)",
      value: t(50) / 1000,
      unit: "s",
      spread: spread(ms(statusRuns[50])),
      goal: "≤ 5 s, linear at worst",
      // Linear at worst: per stack, 200 cost no more than 10 did (and a little noise).
      met: t(50) <= 5000 && perStack(200) <= perStack(10) * 1.1,
      detail: `${s(t(10))} / ${s(t(50))} / ${s(t(200))}; ${procs(statusRuns[50])} at 50`,
      runs: statusRuns,
    });

    const load1 = os.loadavg();
    const result = {
      when: new Date().toISOString(),
      commit: git(PROJECT, "rev-parse", "--short", "HEAD"),
      node: process.version,
      cores: os.cpus().length,
      load: { start: load0, end: load1 },
      minutes: (Date.now() - started) / 60_000,
      rows,
    };
    fs.mkdirSync(path.join(PROJECT, "bench", "results"), { recursive: true });
    const file = path.join(PROJECT, "bench", "results", `${result.when.replace(/[:.]/g, "-")}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(table(result));
    console.log(`\n${file}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function table(r: { commit: string; cores: number; load: { start: number[]; end: number[] }; minutes: number; rows: Row[] }): string {
  const fmt = (x: Row) =>
    x.unit === "ratio" ? x.value.toFixed(2) : x.unit === "s" ? `${x.value.toFixed(2)} s` : `${x.value.toFixed(1)} ${x.unit}`;
  return [
    `at ${r.commit}, ${r.cores} cores, load average ${r.load.start[0].toFixed(1)} at the start and ${r.load.end[0].toFixed(1)} at the end, ${r.minutes.toFixed(1)} min`,
    "",
    "| measure | median | spread | goal | met | detail |",
    "|---|---|---|---|---|---|",
    ...r.rows.map(
      (x) => `| ${x.measure} | ${fmt(x)} | ±${(x.spread * 100).toFixed(0)} % | ${x.goal} | ${x.met ? "yes" : "no"} | ${x.detail} |`,
    ),
  ].join("\n");
}

/**
 * An agent in sync with its branch, polling every 10 s: its CPU (its own and its children's, all of
 * which it waits for) over four polls, as a share of one core, and its memory, against a bare
 * `git fetch` per poll.
 */
async function agentIdle(root: string, env: NodeJS.ProcessEnv): Promise<Row> {
  const repo = scratchRepo(root, "followed");
  const workDir = path.join(root, "agent");
  const port = 20000 + (process.pid % 20000);
  const agent = spawn(
    process.execPath,
    [
      BIN,
      "agent",
      "--repo",
      path.join(root, "followed.git"),
      "--work-dir",
      workDir,
      "--interval",
      "10s",
      "--drift-interval",
      "0",
      "--listen",
      `127.0.0.1:${port}`,
    ],
    { cwd: repo, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  agent.stderr!.on("data", (d) => (stderr += d));
  try {
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (agent.exitCode !== null) throw new Error(`the agent exited ${agent.exitCode}:\n${stderr}`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`the agent was not ready after 3 minutes:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const windowMs = 40_000;
    const lines0 = stderr.split("\n").length;
    const cpu0 = childCpuSeconds(agent.pid!);
    let self = 0;
    let tree = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < windowMs) {
      const m = treeRssMiB(agent.pid!);
      self = Math.max(self, m.self);
      tree = Math.max(tree, m.tree);
      await new Promise((r) => setTimeout(r, 200));
    }
    const cpu = (childCpuSeconds(agent.pid!) - cpu0) / ((performance.now() - t0) / 1000);
    const logLines = stderr.split("\n").length - lines0;
    // The yardstick: what a bare fetch of the same remote costs, per 10 s poll.
    const clone = path.join(workDir, "repo");
    const c0 = childCpuSeconds();
    const fetches = 10;
    for (let i = 0; i < fetches; i++) execFileSync("git", ["fetch", "-q", "origin"], { cwd: clone, env, stdio: "ignore" });
    const fetchShare = (childCpuSeconds() - c0) / fetches / 10;
    return {
      measure: "agent idle, `--interval 10s`, in sync",
      value: cpu * 100,
      unit: "%",
      spread: 0,
      goal: "< 1 %, < 150 MiB tree",
      met: cpu < 0.01 && tree < 150,
      detail: `${(cpu * 100).toFixed(2)} % of one core (a bare git fetch per poll: ${(fetchShare * 100).toFixed(2)} %), ${self.toFixed(0)} MiB agent / ${tree.toFixed(0)} MiB tree, ${logLines} log lines in ${windowMs / 1000} s`,
      runs: { cpuShare: [cpu], fetchShare: [fetchShare], agentMiB: [self], treeMiB: [tree] },
    };
  } finally {
    agent.kill("SIGTERM");
    await new Promise((r) => (agent.exitCode === null ? agent.once("exit", r) : r(undefined)));
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
