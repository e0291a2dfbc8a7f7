/**
 * The pull-mode agent: keeps its own clone of one branch, applies each new commit with apply's code,
 * checks drift on a timer, and does one thing at a time. A failed commit is retried with capped
 * exponential backoff; a new commit resets the backoff at once. Everything it knows about what
 * runs comes from the stacks' records, so a restart resumes where the last run stopped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { apply } from "../flows/apply";
import { backoffDelay } from "../services/backoff";
import { installDependencies } from "../services/checkout";
import { createContext, INSTALL_DIR, LOCAL_DIR, type Context, type GlobalOptions } from "../services/context";
import { drift, driftSummary } from "../flows/drift";
import { hasChanges, type StackResult } from "../services/workspace";
import { GitopsError, refused, RefusedError, StoppedError } from "../errors";
import * as git from "../services/git";
import type { Logger } from "../log";
import { processRuns } from "../services/processes";
import { summaryLine } from "../services/report";
import { RULES_FILE } from "../services/rules";
import { history, status, type HistoryEntry, type StackStatus } from "../flows/status";
import type { Handlers } from "./server";
import { createMetrics, recordDrift, recordPromotions, recordUpdates } from "./metrics";
import { commitUrlBase } from "./dashboard/links";

/** The agent's clone always calls its source this. */
const REMOTE = "origin";

/**
 * What the agent puts in its clone's working tree, kept out of `git status` and `git clean` by the
 * clone's own exclude file whatever the repository ignores: the dependencies and the embedded state.
 */
const LOCAL_PATHS = ["/node_modules", `/${LOCAL_DIR}/`];

/** Updates per stack that /status serves (newest first), for the dashboard's history view. */
const HISTORY_LIMIT = 10;

/** Thrown inside a sync when the agent was told to stop before its next step. */
class Stopped extends Error {}

export interface AgentOptions {
  /** Git URL or path of the repository to follow. */
  source: string;
  branch: string;
  /** Holds the agent's clone (`repo/`), its state when the backend is the embedded one, and its pid file. */
  workDir: string;
  intervalMs: number;
  /** 0 turns drift checks off. */
  driftIntervalMs: number;
  remediate: boolean;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Seconds to wait for another runner's lock on a stack. */
  lockTimeout: number;
  /** Bound of every git call to the remote. */
  gitTimeoutMs: number;
  /** Backend, log level: as for every gitops command. */
  global: GlobalOptions;
  env: NodeJS.ProcessEnv;
}

export interface AgentState {
  source: string;
  branch: string;
  /** Where the forge shows a commit: this followed by its hash; only for a known forge's URL. */
  commitUrl?: string;
  ready: boolean;
  /** What the agent is doing now. */
  busy?: "sync" | "drift";
  /** The branch's tip at the last fetch. */
  head?: string;
  lastSync?: { commit: string; time: string; outcome: "applied" | "in_sync" | "failed" };
  /**
   * What failed last and waits out its backoff: a commit (cleared by a success or a new commit), or
   * the fetch itself, without a commit (cleared by the next fetch that works).
   */
  failure?: { commit?: string; attempts: number; error: string; retryAt: string; backoffSeconds: number };
  /** `changes`: per drifted stack, its resources and the properties that differ. */
  lastDrift?: { time: string; drifted: string[]; remediated: string[]; failed: string[]; changes: Record<string, string> };
}

const short = (commit: string) => commit.slice(0, 7);
const seconds = (ms: number) => (ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)}m` : `${+(ms / 1000).toFixed(1)}s`);

export class Agent {
  readonly metrics = createMetrics();
  private readonly clone: string;
  private readonly pidFile: string;
  private readonly state: AgentState;
  private stacks: StackStatus[] = [];
  private history: Record<string, HistoryEntry[]> = {};
  private readonly wanted = { sync: false, drift: false };
  /**
   * Whether the queued sync must run whatever the tip: asked for by the start, a webhook or a backoff
   * (or a tip that moved during the last one). An interval's poll only fetches and compares.
   */
  private fullSync = false;
  private running?: Promise<void>;
  private stopping = false;
  /** Aborted on stop: no git call to the remote or engine operation starts after it. */
  private readonly halt = new AbortController();
  /** Aborted when the shutdown timeout ends: the running engine operation stops gracefully. */
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private retryTimer?: NodeJS.Timeout;
  private retryAt = 0;

  constructor(
    private readonly o: AgentOptions,
    private readonly log: Logger,
  ) {
    this.clone = path.join(o.workDir, "repo");
    this.pidFile = path.join(o.workDir, "agent.pid");
    this.state = { source: git.redactUrls(o.source), branch: o.branch, commitUrl: commitUrlBase(o.source), ready: false };
  }

  /** Takes the work dir, or refuses when another live agent has it: one agent per clone and state. */
  claim(): void {
    fs.mkdirSync(this.o.workDir, { recursive: true });
    this.takeWorkDir();
  }

  /** Checks an existing clone, then syncs (cloning first if need be) now and on every interval. */
  async start(): Promise<void> {
    await this.checkClone();
    this.timers.push(setInterval(() => this.request("sync", "interval"), this.o.intervalMs));
    if (this.o.driftIntervalMs > 0) this.timers.push(setInterval(() => this.request("drift", "drift interval"), this.o.driftIntervalMs));
    this.request("sync", "start");
  }

  /** Queues a sync or a drift check; requests made while one is queued or running merge into it. */
  request(kind: "sync" | "drift", reason: string): void {
    if (this.stopping) return;
    this.log.debug(`${kind} requested (${reason})`);
    this.wanted[kind] = true;
    if (kind === "sync" && reason !== "interval") this.fullSync = true;
    this.kick();
  }

  /**
   * Stops taking work and waits up to `timeoutMs` for the running sync or drift check; past that,
   * stops the engine gracefully (the stack stays consistent and the next start redoes the update).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.halt.abort("the agent's shutdown");
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.retryTimer);
    const running = this.running;
    if (running) {
      this.log.info(`waiting up to ${seconds(timeoutMs)} for the running ${this.state.busy ?? "work"} to finish`);
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        running.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!finished) {
        this.log.warn("still running: stopping the engine gracefully; the next start finishes the job");
        this.abort.abort();
        await running;
      }
    }
    this.releaseWorkDir();
  }

  snapshot(): { agent: AgentState; stacks: StackStatus[]; history: Record<string, HistoryEntry[]> } {
    return { agent: { ...this.state }, stacks: this.stacks, history: this.history };
  }

  /** The HTTP server's view of the agent. */
  handlers(webhookSecret: Buffer | undefined): Handlers {
    return {
      ready: () => this.state.ready,
      status: () => this.snapshot(),
      metrics: async () => ({ contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
      branch: this.o.branch,
      push: (event) => {
        this.metrics.webhooks.inc({ result: "accepted" });
        this.request("sync", `webhook${event ? ` (${event})` : ""}`);
      },
      ignoredHook: (event) => {
        this.metrics.webhooks.inc({ result: "ignored" });
        this.log.debug(`ignored a webhook that is not a push to ${this.o.branch}${event ? ` (${event})` : ""}`);
      },
      refusedHook: () => {
        this.metrics.webhooks.inc({ result: "unauthorized" });
        this.log.warn("refused a webhook with a missing or wrong signature");
      },
      webhookSecret,
    };
  }

  private kick(): void {
    if (this.running || this.stopping) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.wanted.sync || this.wanted.drift) this.kick();
    });
  }

  /**
   * One thing at a time, until nothing is wanted: a sync before a drift check, but never two syncs
   * in a row while a drift check waits (syncs that take longer than --interval would starve it).
   */
  private async drain(): Promise<void> {
    let last: "sync" | "drift" | undefined;
    while (!this.stopping && (this.wanted.sync || this.wanted.drift)) {
      const kind = this.wanted.sync && !(this.wanted.drift && last === "sync") ? "sync" : "drift";
      last = kind;
      this.wanted[kind] = false;
      this.state.busy = kind;
      try {
        if (kind === "sync") {
          const full = this.fullSync;
          this.fullSync = false;
          await this.sync(full);
        } else await this.checkDrift();
      } catch (err) {
        // A bug, not a user's mistake: say so loudly, keep the agent alive for the next commit.
        if (!(err instanceof Stopped)) this.log.error(`${kind} failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
      } finally {
        this.state.busy = undefined;
      }
    }
  }

  private takeWorkDir(): void {
    try {
      fs.writeFileSync(this.pidFile, String(process.pid), { flag: "wx" });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number(fs.readFileSync(this.pidFile, "utf8"));
    if (pid && pid !== process.pid && processRuns(pid)) {
      throw refused(
        `another agent (pid ${pid}) works in ${this.o.workDir}`,
        "one agent per work dir, so that only one update ever runs: stop that one, or pass another --work-dir",
      );
    }
    fs.writeFileSync(this.pidFile, String(process.pid));
  }

  releaseWorkDir(): void {
    if (fs.existsSync(this.pidFile) && fs.readFileSync(this.pidFile, "utf8") === String(process.pid)) fs.rmSync(this.pidFile);
  }

  /** Refuses a work dir whose clone follows another repository; keeps the agent's paths out of git's view. */
  private async checkClone(): Promise<void> {
    if (!fs.existsSync(path.join(this.clone, ".git"))) return;
    const url = await git.remoteUrl(this.clone, REMOTE);
    if (url !== this.o.source) {
      throw new GitopsError(
        git.redactUrls(`${this.clone} is a clone of ${url ?? "nothing"}, not of ${this.o.source}`),
        "give each repository its own --work-dir, or remove that directory to let the agent clone again",
      );
    }
    await git.excludeLocally(this.clone, LOCAL_PATHS);
    this.log.info(`resuming with the clone in ${this.clone}`);
  }

  /** Clones the branch when there is no clone yet, then fetches it: the branch's tip. */
  private async fetchTip(): Promise<string> {
    const net = { timeoutMs: this.o.gitTimeoutMs, signal: this.halt.signal };
    if (!fs.existsSync(path.join(this.clone, ".git"))) {
      this.log.info(`cloning ${this.o.branch} of ${this.state.source} into ${this.clone}`);
      fs.rmSync(this.clone, { recursive: true, force: true });
      await git.cloneBranch(this.o.source, this.clone, REMOTE, this.o.branch, net);
      await git.excludeLocally(this.clone, LOCAL_PATHS);
    }
    return git.fetchRemoteTip(this.clone, REMOTE, this.o.branch, net);
  }

  /** Ends the sync when the agent is stopping: nothing new starts after a signal. */
  private checkpoint(): void {
    if (this.stopping) throw new Stopped();
  }

  /** Runs one step of a sync unless the agent is stopping; a step that the stop cut short ends the sync. */
  private async step<T>(work: () => Promise<T>): Promise<T> {
    this.checkpoint();
    try {
      return await work();
    } catch (err) {
      this.checkpoint();
      throw err;
    }
  }

  /** The clone's dependencies, installed again only when its lockfile changes. */
  private async dependencies(): Promise<void> {
    const lock = path.join(this.clone, "package-lock.json");
    const stamp = path.join(this.o.workDir, "installed-package-lock.json");
    const modules = path.join(this.clone, "node_modules");
    const text = fs.existsSync(lock) ? fs.readFileSync(lock, "utf8") : "";
    if (fs.existsSync(modules) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === text) return;
    fs.rmSync(modules, { recursive: true, force: true });
    const reused = await installDependencies(this.log, this.clone, INSTALL_DIR, this.halt.signal);
    this.log.info(reused ? "dependencies: the agent's own (identical lockfile)" : "dependencies installed from the commit's lockfile");
    fs.writeFileSync(stamp, text);
  }

  private async context(): Promise<Context> {
    return createContext({ ...this.o.global, repo: this.clone }, this.o.env, this.clone);
  }

  private async sync(full: boolean): Promise<void> {
    const previous = this.state.failure;
    if (previous && previous.commit === undefined && Date.now() < this.retryAt) {
      this.log.debug(`the last fetch failed; next attempt at ${previous.retryAt}`);
      this.metrics.syncs.inc({ outcome: "backoff" });
      return;
    }
    let tip: string;
    try {
      tip = await this.fetchTip();
    } catch (err) {
      if (this.stopping) throw new Stopped();
      this.metrics.fetchFailures.inc();
      this.metrics.syncs.inc({ outcome: "failed" });
      this.fail(undefined, err);
      return;
    }
    this.state.head = tip;
    // An interval's poll of a tip that was synced and has not failed since: nothing to do, and no
    // engine, checkout or log line for it; the syncs metric counts it, /status keeps the last sync.
    // A stack waiting at its promotion gate may open with time alone: those polls sync in full.
    const waiting = this.stacks.some((s) => s.gate?.candidate !== undefined && s.gate.candidate !== s.commit);
    if (!full && !waiting && !this.state.failure && this.state.lastSync?.commit === tip && this.state.lastSync.outcome !== "failed") {
      this.metrics.syncs.inc({ outcome: "in_sync" });
      return;
    }
    const failed = this.state.failure;
    if (failed && failed.commit === undefined) {
      this.log.info(`fetched ${this.o.branch} again after ${failed.attempts} failed attempt(s)`);
      this.clearFailure();
    } else if (failed && failed.commit !== tip) {
      this.log.info(`new commit ${short(tip)}: the backoff of ${short(failed.commit!)} is reset`);
      this.clearFailure();
    } else if (failed && Date.now() < this.retryAt) {
      this.log.debug(`${short(tip)} failed before; next attempt at ${failed.retryAt}`);
      this.metrics.syncs.inc({ outcome: "backoff" });
      return;
    }
    let outcome: "applied" | "in_sync" | "failed";
    let error: unknown;
    let ctx: Context | undefined;
    try {
      await this.step(() => git.resetBranchTo(this.clone, this.o.branch, tip));
      await this.step(() => this.dependencies());
      ctx = await this.step(() => this.context());
      if (ctx.rules.protectedBranch !== this.o.branch) {
        throw refused(
          `${RULES_FILE} at ${short(tip)} protects '${ctx.rules.protectedBranch}', but the agent follows '${this.o.branch}'`,
          `deploy only from the protected branch: run the agent with --branch ${ctx.rules.protectedBranch}`,
        );
      }
      this.checkpoint();
      const out = await apply(ctx, { lockTimeout: this.o.lockTimeout, signal: this.halt.signal, cancel: this.abort.signal, by: "agent" });
      recordUpdates(this.metrics, out.results, ctx.now());
      recordPromotions(this.metrics, out.results);
      for (const r of out.results) this.log.info(summaryLine(r));
      if (out.refusal) throw out.refusal;
      const bad = out.results.filter((r) => r.status === "failed");
      if (bad.length) {
        const why = bad.map((r) => `${r.stack}: ${r.error?.split("\n")[0] ?? "failed"}`).join("; ");
        throw new GitopsError(`applying ${short(tip)} failed (${why})`, "the stacks keep what they ran before; push a fix");
      }
      outcome = out.results.some((r) => r.status === "succeeded") ? "applied" : "in_sync";
    } catch (err) {
      // Stopped between steps here, or by apply between its engine calls and stacks.
      if (err instanceof Stopped || err instanceof StoppedError) {
        this.log.info(`stopped before applying all of ${short(tip)}; the next start applies the rest`);
        throw new Stopped();
      }
      // apply fetches again before deploying; a push in between makes it refuse a tip that is no
      // longer the branch's. That is no failure of the commit: sync the new tip.
      if (err instanceof RefusedError && (await git.resolveCommit(this.clone, `refs/remotes/${REMOTE}/${this.o.branch}`)) !== tip) {
        this.log.info(`${this.o.branch} moved past ${short(tip)} during the sync: syncing the new tip`);
        this.wanted.sync = true;
        this.fullSync = true;
        return;
      }
      outcome = "failed";
      error = err;
    }
    // Records first, so that /status never shows the new outcome next to the old records.
    await this.refreshStatus(ctx);
    if (error !== undefined) this.fail(tip, error);
    else {
      if (this.state.failure) this.log.info(`${short(tip)} applied after ${this.state.failure.attempts} failed attempt(s)`);
      this.clearFailure();
    }
    this.state.lastSync = { commit: tip, time: new Date().toISOString(), outcome };
    this.metrics.syncs.inc({ outcome });
    this.state.ready = true;
    this.metrics.ready.set(1);
  }

  /**
   * Records a failure of `commit` (undefined: the fetch failed) and schedules the next attempt. A
   * user's mistake and an unexpected error (git, I/O, a bug) get the same backoff, metrics and
   * /status entry; only the latter's stack goes to the log as well.
   */
  private fail(commit: string | undefined, err: unknown): void {
    if (this.abort.signal.aborted && commit) {
      this.log.warn(`the update of ${short(commit)} was stopped by the shutdown; the next start applies it again`);
      return;
    }
    const known = err instanceof GitopsError;
    const error = known ? `${err.message}\n${err.hint}` : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
    if (!known)
      this.log.error(`${commit ? `syncing ${short(commit)}` : "fetching"} failed unexpectedly: ${(err as Error)?.stack ?? String(err)}`);
    const attempts = (this.state.failure && this.state.failure.commit === commit ? this.state.failure.attempts : 0) + 1;
    const delay = backoffDelay(attempts, this.o.backoffBaseMs, this.o.backoffCapMs);
    this.retryAt = Date.now() + delay;
    this.state.failure = { commit, attempts, error, retryAt: new Date(this.retryAt).toISOString(), backoffSeconds: delay / 1000 };
    this.metrics.backoff.set(delay / 1000);
    const what = commit ? short(commit) : `the fetch of ${this.o.branch}`;
    this.log.error(
      `${known ? `${err.message}\nhint: ${err.hint}\n` : ""}attempt ${attempts} for ${what}; the next in ${seconds(delay)}${commit ? ", or at once when a new commit arrives" : ""}`,
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.request("sync", "backoff elapsed"), delay);
  }

  private clearFailure(): void {
    this.state.failure = undefined;
    this.retryAt = 0;
    clearTimeout(this.retryTimer);
    this.metrics.backoff.set(0);
  }

  private async checkDrift(): Promise<void> {
    if (!this.state.lastSync) return;
    const ctx = await this.context();
    let results: StackResult[];
    try {
      ({ results } = await drift(ctx, { remediate: this.o.remediate, signal: this.halt.signal, cancel: this.abort.signal }));
    } catch (err) {
      // A guard refused remediation (typically: a new commit landed since the last sync); the next sync handles it.
      if (!(err instanceof GitopsError)) throw err;
      this.log.warn(`drift check skipped: ${err.message}`);
      return;
    }
    // Records first, so that /status never shows this check next to the old records.
    await this.refreshStatus(ctx);
    recordDrift(this.metrics, results);
    recordUpdates(this.metrics, results, ctx.now());
    const drifted = (r: StackResult) => r.operation === "drift" && r.status === "succeeded" && hasChanges(r);
    const of = (p: (r: StackResult) => boolean) => results.filter(p).map((r) => r.stack);
    this.state.lastDrift = {
      time: new Date().toISOString(),
      drifted: of(drifted),
      remediated: of((r) => r.operation === "update" && r.status === "succeeded"),
      failed: of((r) => r.status === "failed"),
      changes: Object.fromEntries(results.filter(drifted).map((r) => [r.stack, driftSummary(r)])),
    };
    for (const r of results) {
      if (r.status === "failed")
        this.log.error(`${r.stack}: drift ${r.operation === "drift" ? "check" : "remediation"} failed: ${r.error?.split("\n")[0]}`);
      else if (r.operation === "drift" && hasChanges(r))
        this.log.warn(`${r.stack} drifted: ${driftSummary(r)}${this.o.remediate ? "" : " (detect only; run with --remediate to restore)"}`);
      else if (r.operation === "update") this.log.info(`${r.stack}: ${r.reason}`);
    }
  }

  /** Reads the stacks' records and recent updates again, with the context of the work just done when there is one. */
  private async refreshStatus(ctx?: Context): Promise<void> {
    try {
      const c = ctx ?? (await this.context());
      const stacks = await status(c);
      const updates: Record<string, HistoryEntry[]> = {};
      for (const s of stacks) if (s.result) updates[s.stack] = await history(c, s.stack, HISTORY_LIMIT);
      // Both at once, with no await between them and the caller's own state: /status stays consistent.
      this.stacks = stacks;
      this.history = updates;
    } catch (err) {
      this.log.warn(`status not refreshed: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
