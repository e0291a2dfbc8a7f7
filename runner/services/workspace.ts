/**
 * The Automation API on the real `pulumi` CLI: a workspace per stack and checkout, one operation at
 * a time per stack, engine events collected into a summary that reports and records are made from.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { LocalWorkspace, PulumiCommand, type EngineEvent, type OpType, type Stack } from "@pulumi/pulumi/automation";
import { realTargets, stackFileName } from "../../config";
import { CliError, engineError, stackExists } from "./engineErrors";
import { GitopsError, PolicyViolationError, StackLockedError, StackMissingError, usageError } from "../errors";
import { DEMO_PASSPHRASE } from "./context";
import type { Logger } from "../log";
import type { CheckOutcome } from "./checks";
import type { Gate, Promotion } from "./promotion";
import type { Fingerprint } from "./reviews";

/** Where the engine is and how it is configured; resolved once at the entry point. */
export interface EngineSettings {
  /** The engine directory made by provision/pulumi-engine.sh: bin/ and home/. */
  engineDir: string;
  /** PULUMI_HOME to use; defaults to the engine's own home, which holds the Kubernetes plugin. */
  pulumiHome: string;
  backendUrl: string;
  /** For the passphrase secrets provider; undefined when the stacks use another provider. */
  passphrase?: string;
  /** PULUMI_CONFIG_PASSPHRASE_FILE: a file holding the passphrase, when `passphrase` is not set. */
  passphraseFile?: string;
  /** The primary checkout; programs resolve repository-relative paths (rendered manifests) from it. */
  root: string;
  /** The caller's PATH, behind the engine's bin/. */
  inheritedPath: string;
}

export type Operation = "preview" | "update" | "refresh" | "drift";

export interface PropertyChange {
  path: string;
  kind: string;
  before?: unknown;
  after?: unknown;
  /** A secret value that changed: before and after are masked, only the change is told. */
  secret?: true;
}

export interface ResourceChange {
  urn: string;
  type: string;
  name: string;
  op: OpType;
  diffs: PropertyChange[];
}

export interface Diagnostic {
  severity: string;
  message: string;
  resource?: string;
}

/** A finding of the policy pack (policy/) on one resource, or on the stack when `resource` is absent. */
export interface PolicyViolation {
  policy: string;
  /** `<pack>@v<version>`. */
  pack: string;
  /** Mandatory fails the preview and refuses the deploy; advisory is a warning. */
  level: "mandatory" | "advisory";
  resource?: string;
  type?: string;
  urn?: string;
  message: string;
}

export interface ChangeCounts {
  create: number;
  update: number;
  replace: number;
  delete: number;
  same: number;
}

/** What one engine operation did (or would do) to one stack. */
export interface StackResult {
  stack: string;
  operation: Operation;
  commit?: string;
  /** `waiting`: held at its promotion gate (see `gate`), which is no failure. */
  status: "succeeded" | "failed" | "skipped" | "waiting";
  counts: ChangeCounts;
  changes: ResourceChange[];
  diagnostics: Diagnostic[];
  /** What the policy pack found (previews and updates that ran it). */
  policies?: PolicyViolation[];
  outputs?: Record<string, unknown>;
  error?: string;
  /** What the user can do about `error`, when the runner knows. */
  hint?: string;
  /** Why a stack was skipped or what it was affected by. */
  reason?: string;
  /** A gated stack's gate: why it waits or what opened it (see stacks/gitops.yaml `stages`). */
  gate?: Gate;
  /** The stack's own checks after its update, in order. */
  checks?: CheckOutcome[];
  /** Set when this update was a promotion: what was recorded on the stack. */
  promotion?: Promotion;
  /** A failed check after the update rolled the stack back to this commit (`onFailure: rollback`). */
  rolledBackTo?: string;
  /**
   * Pending operations (`<type> <urn>`) an interrupted update had left and the runner dropped before
   * this one: a pending create may have made a real resource the state does not know.
   */
  pendingCleared?: string[];
  /** A preview's fingerprint of what it showed (see reviews.ts); apply's of what it deploys. */
  fingerprint?: Fingerprint;
  durationMs: number;
}

export function emptyCounts(): ChangeCounts {
  return { create: 0, update: 0, replace: 0, delete: 0, same: 0 };
}

/** The result of a stack the engine was not run on, and why. */
export function skippedResult(stack: string, operation: Operation, reason: string, commit?: string): StackResult {
  return { stack, operation, commit, status: "skipped", reason, counts: emptyCounts(), changes: [], diagnostics: [], durationMs: 0 };
}

export const mandatoryViolations = (r: { policies?: PolicyViolation[] }): PolicyViolation[] =>
  (r.policies ?? []).filter((p) => p.level === "mandatory");

/** The refusal to deploy `commit` that a result's mandatory policy violations make; none without them. */
export function policyRefusal(r: StackResult, commit: string): PolicyViolationError | undefined {
  const violations = mandatoryViolations(r);
  return violations.length ? new PolicyViolationError(r.stack, commit, violations, violations.map(policyLine)) : undefined;
}

/** The directory of the project's policy pack, beside Pulumi.yaml. */
export const POLICY_DIR = "policy";

/**
 * The policy pack of the checkout at `workDir`, when it has one, as the engine is given it: its
 * executable `analyzer`, which the engine runs as an analyzer plugin (README.md, "Policy pack").
 */
export function policyPacks(workDir: string): string[] {
  const analyzer = path.join(workDir, POLICY_DIR, "analyzer");
  return fs.existsSync(analyzer) ? [analyzer] : [];
}

export function hasChanges(r: StackResult): boolean {
  return r.counts.create + r.counts.update + r.counts.replace + r.counts.delete > 0;
}

const commands = new Map<string, Promise<PulumiCommand>>();

function pulumiCommand(engineDir: string): Promise<PulumiCommand> {
  let cmd = commands.get(engineDir);
  if (!cmd) {
    if (!fs.existsSync(path.join(engineDir, "bin", "pulumi"))) {
      throw new GitopsError(
        `no Pulumi engine at ${engineDir}`,
        "run `npm run engine` (provision/pulumi-engine.sh) to install or build it, or set PULUMI_GITOPS_ENGINE to an engine directory",
      );
    }
    cmd = PulumiCommand.get({ root: engineDir });
    commands.set(engineDir, cmd);
  }
  return cmd;
}

/** The environment every engine process gets: nothing at run time may try the network. */
export function engineEnv(s: EngineSettings): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${path.join(s.engineDir, "bin")}${path.delimiter}${s.inheritedPath}`,
    PULUMI_HOME: s.pulumiHome,
    PULUMI_BACKEND_URL: s.backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    // A stack file without `encryptionsalt:` uses the secrets provider its state records (every
    // stack the runner creates records one) instead of making a new one and writing it into the file.
    PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true",
    // The program is type-checked once, by `npm test`'s tsc, not by every engine run: ts-node's
    // type-check costs seconds and hundreds of MiB per run, all of it again on a fresh machine.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    GITOPS_ROOT: s.root,
  };
  if (s.passphrase !== undefined) env.PULUMI_CONFIG_PASSPHRASE = s.passphrase;
  else if (s.passphraseFile !== undefined) env.PULUMI_CONFIG_PASSPHRASE_FILE = s.passphraseFile;
  return env;
}

/** The demo passphrase protects nothing: a stack that targets real infrastructure must not be bound to it. */
export function guardPassphrase(env: Record<string, string>, workDir: string, stack: string): void {
  if (env.PULUMI_CONFIG_PASSPHRASE !== DEMO_PASSPHRASE) return;
  const file = stackFileName(stack);
  let doc: { secretsprovider?: string; config?: Record<string, unknown> } | null;
  try {
    doc = parse(fs.readFileSync(path.join(workDir, file), "utf8"));
  } catch {
    return; // the stack file's own checks report it
  }
  if (doc?.secretsprovider && doc.secretsprovider !== "passphrase") return;
  const targets = realTargets(doc?.config ?? {});
  if (!targets.length) return;
  throw usageError(
    `stack ${stack} targets ${targets.join(" and ")} (${file}), but its secrets would be encrypted with the demo passphrase '${DEMO_PASSPHRASE}'`,
    "set PULUMI_CONFIG_PASSPHRASE, or PULUMI_CONFIG_PASSPHRASE_FILE, to a passphrase of your own (in CI, from its secret store) and keep it: it encrypts the stack's secrets; the demo passphrase serves only render-mode stacks on the embedded backend",
  );
}

const run = promisify(execFile);

/**
 * Runs the engine's own CLI in `cwd` with `env` added to the process's environment, as the
 * Automation API runs it for every operation; for what the Automation API does not do safely.
 */
export async function pulumiCli(bin: string, cwd: string, env: Record<string, string>, args: string[]): Promise<string> {
  const all = [...args, "--non-interactive"];
  try {
    // States can be large; they only ever pass through memory.
    const { stdout } = await run(bin, all, { cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 30 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: unknown };
    if (typeof e.stderr !== "string") throw err;
    throw new CliError(all, e.stderr || String(e.code));
  }
}

/** `pulumiCli` for an opened stack, with its workspace's directory and environment. */
export function stackCli(stack: Stack, args: string[]): Promise<string> {
  const ws = stack.workspace as LocalWorkspace;
  return pulumiCli(ws.pulumiCommand.command, ws.workDir, ws.envVars, [...args, "--stack", stack.name]);
}

/**
 * Runs `work` with a private copy of the stack's file in a directory of its own (0700), removed
 * however `work` ends. The engine reads the stack's config from the copy (`--config-file`), so what
 * it writes back (a salt, its own YAML formatting) never touches the tracked file.
 */
export async function withConfigCopy<T>(workDir: string, stack: string, work: (configFile: string | undefined) => Promise<T>): Promise<T> {
  const tracked = path.join(workDir, stackFileName(stack));
  if (!fs.existsSync(tracked)) return work(undefined);
  return withPrivateDir(async (dir) => {
    // Under the tracked file's name, which the engine's messages then show.
    const copy = path.join(dir, path.basename(tracked));
    fs.copyFileSync(tracked, copy);
    fs.chmodSync(copy, 0o600);
    return work(copy);
  });
}

/** A fresh directory only this user can read, removed however `work` ends. */
export async function withPrivateDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-"));
  try {
    return await work(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Creates stack `name` in the backend without writing into the checkout: `pulumi stack init` runs
 * on a private copy of Pulumi.yaml and the stack's file. The stack's state records the secrets
 * provider it made (for the passphrase provider, the salt), which every later operation uses.
 */
async function initStack(s: EngineSettings, workDir: string, name: string): Promise<void> {
  const env = engineEnv(s);
  guardPassphrase(env, workDir, name);
  await withPrivateDir(async (dir) => {
    for (const f of ["Pulumi.yaml", stackFileName(name)]) {
      const from = path.join(workDir, f);
      if (!fs.existsSync(from)) continue;
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.copyFileSync(from, path.join(dir, f));
    }
    try {
      await pulumiCli(path.join(s.engineDir, "bin", "pulumi"), dir, env, ["stack", "init", "--stack", name, "--no-select"]);
    } catch (err) {
      // Another runner created it between our select and our init: it exists now, which is all we need.
      if (!stackExists(err)) throw engineError(err, name);
    }
  });
}
/** Opens `name` in the program checked out at `workDir`, creating the stack when `create` is set. */
export async function openStack(s: EngineSettings, workDir: string, name: string, create: boolean): Promise<Stack> {
  const opts = { pulumiCommand: await pulumiCommand(s.engineDir), envVars: engineEnv(s), pulumiHome: s.pulumiHome };
  try {
    return await LocalWorkspace.selectStack({ stackName: name, workDir }, opts);
  } catch (err) {
    const mapped = engineError(err, name);
    if (!(create && mapped instanceof StackMissingError)) throw mapped;
  }
  await initStack(s, workDir, name);
  try {
    return await LocalWorkspace.selectStack({ stackName: name, workDir }, opts);
  } catch (err) {
    throw engineError(err, name);
  }
}

/**
 * The names of the stacks the backend holds for the program at `workDir`: one `pulumi stack ls`,
 * where opening each stack costs a `stack select` apiece.
 */
export async function listStacks(s: EngineSettings, workDir: string): Promise<Set<string>> {
  let out: string;
  try {
    out = await pulumiCli(path.join(s.engineDir, "bin", "pulumi"), workDir, engineEnv(s), ["stack", "ls", "--json"]);
  } catch (err) {
    throw engineError(err, "(listing the stacks)");
  }
  // Pulumi Cloud may qualify a name with its organization and project; the stack's own name is last.
  return new Set((JSON.parse(out) as { name: string }[]).map((x) => x.name.split("/").pop()!));
}

/** The stack when the backend has it, without creating it; undefined when it does not. */
export async function findStack(s: EngineSettings, workDir: string, name: string): Promise<Stack | undefined> {
  try {
    return await openStack(s, workDir, name, false);
  } catch (err) {
    if (err instanceof StackMissingError) return undefined;
    throw err;
  }
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Secret values never leave the runner: the engine masks them, and this masks any that slip by. */
export function maskSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskSecrets);
  if (v && typeof v === "object") {
    if (SECRET_SIG in v) return "[secret]";
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x)]));
  }
  return v;
}

/** `v` with each secret value replaced by `mark` (a value no output holds), to find where secrets sit. */
function markSecrets(v: unknown, mark: string): unknown {
  if (Array.isArray(v)) return v.map((x) => markSecrets(x, mark));
  if (v && typeof v === "object") {
    if (SECRET_SIG in v) return mark;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, markSecrets(x, mark)]));
  }
  return v;
}

/**
 * The secret properties of a refreshed resource whose only differences are in secret values. The
 * engine's events never carry secrets, in the clear or encrypted, so the runner cannot compare
 * them; but when the engine says the resource changed and every value it shows is equal, the change
 * is in a secret. Each one that could have changed is reported without its value.
 */
function changedSecrets(before: unknown, after: unknown): PropertyChange[] {
  const at = outputDiffs(markSecrets(before, "\u0000old-secret"), markSecrets(after, "\u0000new-secret"));
  const changed = at.length === 1 ? "[secret, changed]" : "[secret, one of these changed]";
  return at.map((d) => ({
    path: d.path,
    kind: d.kind,
    before: d.before === undefined ? undefined : "[secret]",
    after: d.after === undefined ? undefined : changed,
    secret: true,
  }));
}

/** Reads `a.b[0].c` or `a["x.y"]` out of an object; the engine's detailed diff uses such paths. */
export function valueAt(obj: unknown, p: string): unknown {
  const keys = [...p.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  let cur: unknown = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

// The engine's colour tags (`<{%bold%}>`) and ANSI colour codes.
const PLAIN = new RegExp(String.raw`<\{%[^%]*%\}>|\x1b\[[0-9;]*m`, "g");
const REPLACE_PARTS = new Set<OpType>(["create-replacement", "delete-replaced", "discard-replaced", "import-replacement"]);
const COUNTED: Partial<Record<OpType, keyof ChangeCounts>> = {
  create: "create",
  update: "update",
  replace: "replace",
  delete: "delete",
  same: "same",
  refresh: "update",
  discard: "delete",
  import: "create",
};

/** Builds a StackResult from the engine's event stream, logging progress as it goes. */
export class EventCollector {
  readonly counts = emptyCounts();
  readonly changes: ResourceChange[] = [];
  readonly diagnostics: Diagnostic[] = [];
  readonly policies: PolicyViolation[] = [];

  /** A refresh announces every resource as "refresh"; only its outcome says what changed. */
  private readonly refreshing: boolean;

  constructor(
    private readonly log: Logger,
    private readonly operation: Operation,
  ) {
    this.refreshing = operation === "refresh" || operation === "drift";
  }

  readonly onEvent = (e: EngineEvent): void => {
    if (e.resourcePreEvent && !this.refreshing) this.step(e.resourcePreEvent.metadata);
    else if (e.resOutputsEvent && this.refreshing) this.refreshed(e.resOutputsEvent.metadata);
    else if (e.policyEvent) this.policy(e.policyEvent);
    else if (e.diagnosticEvent && !e.diagnosticEvent.ephemeral) {
      const d = e.diagnosticEvent;
      const message = d.message.replace(PLAIN, "").trim();
      if (!message || !["warning", "error"].includes(d.severity)) return;
      const resource = d.urn ? d.urn.split("::").pop() : undefined;
      // The engine repeats the first line of a program's error in a summary we already have.
      if (this.diagnostics.some((x) => x.message === message && x.resource === resource)) return;
      this.diagnostics.push({ severity: d.severity, message, resource });
    }
  };

  private policy(p: NonNullable<EngineEvent["policyEvent"]>): void {
    const urn = p.resourceUrn || undefined;
    // The policy SDK sends the policy's description, then on the next lines the violation's own message.
    const text = p.message.replace(PLAIN, "").trim();
    const cut = text.indexOf("\n");
    const v: PolicyViolation = {
      policy: p.policyName,
      pack: `${p.policyPackName}@v${p.policyPackVersion}`,
      level: p.enforcementLevel === "mandatory" ? "mandatory" : "advisory",
      resource: urn?.split("::").pop(),
      type: urn?.split("::")[2]?.split("$").pop(),
      urn,
      message: cut < 0 ? text : text.slice(cut + 1).trim(),
    };
    if (this.policies.some((x) => JSON.stringify(x) === JSON.stringify(v))) return;
    this.policies.push(v);
    const at = v.resource ? ` on ${v.type} ${v.resource}` : "";
    if (v.level === "mandatory") this.log.error(`policy ${v.policy}${at}: ${v.message}`);
    else this.log.warn(`policy ${v.policy} (advisory)${at}: ${v.message}`);
  }

  private step(m: NonNullable<EngineEvent["resourcePreEvent"]>["metadata"]): void {
    if (REPLACE_PARTS.has(m.op) || m.type === "pulumi:pulumi:Stack") return;
    const key = COUNTED[m.op];
    if (key) this.counts[key]++;
    if (m.op === "same" || m.op === "read") return;
    const name = m.urn.split("::").pop() ?? m.urn;
    const before = m.old?.inputs ?? m.old?.outputs;
    const after = m.new?.inputs ?? m.new?.outputs;
    const diffs: PropertyChange[] = Object.entries(m.detailedDiff ?? {}).map(([p, d]) => ({
      path: p,
      kind: d.diffKind,
      before: maskSecrets(valueAt(before, p)),
      after: maskSecrets(valueAt(after, p)),
    }));
    // Without a detailed diff the engine still names the changed top-level keys.
    for (const k of m.detailedDiff ? [] : (m.diffs ?? []))
      diffs.push({ path: k, kind: m.op, before: maskSecrets(valueAt(before, k)), after: maskSecrets(valueAt(after, k)) });
    this.changes.push({ urn: m.urn, type: m.type, name, op: m.op, diffs });
    if (this.operation === "update") this.log.info(`${m.op} ${m.type} ${name}`);
    else this.log.debug(`${m.op} ${m.type} ${name}`);
  }

  /** A refresh's outcome per resource: same, update (it changed out of band) or delete (it is gone). */
  private refreshed(m: NonNullable<EngineEvent["resOutputsEvent"]>["metadata"]): void {
    if (m.type === "pulumi:pulumi:Stack") return;
    // The engine sends no detailed diff for a refresh: compare the outputs it read with the recorded
    // ones, on the properties the program declares. Servers rewrite status and bookkeeping all the
    // time; a resource whose declared properties all hold has not drifted.
    const before = m.old?.outputs ?? {};
    const after = m.new?.outputs ?? {};
    const visible = outputDiffs(maskSecrets(before), maskSecrets(after));
    const seen = m.op === "update" && !visible.length ? changedSecrets(before, after) : visible;
    const diffs = m.op === "delete" ? [] : declaredDiffs(m.old?.inputs, seen);
    const op = m.op === "update" && !diffs.length ? "same" : m.op;
    const key = COUNTED[op];
    if (key) this.counts[key]++;
    if (op === "same") return;
    const name = m.urn.split("::").pop() ?? m.urn;
    this.changes.push({ urn: m.urn, type: m.type, name, op, diffs });
    this.log.info(
      `${op === "delete" ? "gone" : "changed"}: ${m.type} ${name}${diffs.length ? ` (${diffs.map((d) => d.path).join(", ")})` : ""}`,
    );
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The leaf properties that differ between two output objects, with paths as the engine writes them. */
export function outputDiffs(before: unknown, after: unknown, prefix = ""): PropertyChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    return [...new Set([...Object.keys(before), ...Object.keys(after)])].sort().flatMap((k) => {
      const p = /^[A-Za-z_$][\w$-]*$/.test(k) ? (prefix ? `${prefix}.${k}` : k) : `${prefix}[${JSON.stringify(k)}]`;
      return outputDiffs(before[k], after[k], p);
    });
  }
  // Lists of the same length differ element by element (`containers[0].image`), not as a whole.
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((x, i) => outputDiffs(x, after[i], `${prefix}[${i}]`));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const kind = before === undefined ? "add" : after === undefined ? "delete" : "update";
  return [{ path: prefix, kind, before, after }];
}

/** Only the differences on properties the resource's inputs declare; all of them when inputs are unknown. */
export function declaredDiffs(inputs: Record<string, unknown> | undefined, diffs: PropertyChange[]): PropertyChange[] {
  if (!inputs) return diffs;
  return diffs.filter((d) => valueAt(inputs, d.path) !== undefined);
}

/**
 * Providers wrap their errors in Go's multierror list ("1 error occurred:\n\t* <reason>"), whose
 * first line says nothing: keep the reasons, one per line.
 */
function unwrapErrorList(message: string): string {
  const list = /^\d+ errors? occurred:\s*\n([\s\S]*)$/.exec(message);
  if (!list) return message;
  const reasons = list[1]
    .split(/\n\s*\* /)
    .map((x) => x.replace(/^\s*\* /, "").trim())
    .filter(Boolean);
  return reasons.length === 1 ? reasons[0] : reasons.map((x) => `* ${x}`).join("\n");
}

/** The error text of a failed operation, its reason first, without the CLI's noise. */
export function failureText(err: unknown, diagnostics: Diagnostic[]): string {
  const errors = diagnostics
    .filter((d) => d.severity === "error")
    .map((d) => (d.resource ? `${d.resource}: ` : "") + unwrapErrorList(d.message));
  if (errors.length) return errors.join("\n");
  const msg = err instanceof Error ? err.message : String(err);
  const stderr = /stderr: ([\s\S]*?)(?:\n\s*err\?:|$)/.exec(msg)?.[1]?.trim();
  return (stderr || msg).replace(PLAIN, "");
}

/** One violation on one line: policy, resource, message. */
export function policyLine(v: PolicyViolation): string {
  return `${v.policy}${v.resource ? ` on ${v.type} ${v.resource}` : ""}: ${v.message}`;
}

export interface RunOptions {
  log: Logger;
  commit?: string;
  /** Recorded as the update's message in the stack's history. */
  message?: string;
  signal?: AbortSignal;
}

/** Runs one operation on one stack and summarises it; engine failures become a failed result. */
export async function runOperation(stack: Stack, operation: Operation, o: RunOptions): Promise<StackResult> {
  const started = Date.now();
  const ws = stack.workspace as LocalWorkspace;
  guardPassphrase(ws.envVars, ws.workDir, stack.name);
  const c = new EventCollector(o.log, operation);
  let outputs: Record<string, unknown> | undefined;
  let error: string | undefined;
  let hint: string | undefined;
  try {
    await withConfigCopy(ws.workDir, stack.name, async (configFile) => {
      // showSecrets: false, else the Automation API reads the update's summary with `history
      // --show-secrets`, which decrypts the config and rewrites the tracked stack file.
      const common = { onEvent: c.onEvent, signal: o.signal, color: "never" as const, configFile };
      const policies = { policyPacks: policyPacks(ws.workDir) };
      if (operation === "preview") await stack.preview({ ...common, ...policies, diff: false });
      else if (operation === "drift") await stack.refresh({ ...common, previewOnly: true, showSecrets: false });
      else if (operation === "refresh") await stack.refresh({ ...common, message: o.message, showSecrets: false });
      else {
        const res = await stack.up({ ...common, ...policies, message: o.message, showSecrets: false });
        outputs = Object.fromEntries(Object.entries(res.outputs).map(([k, v]) => [k, v.secret ? "[secret]" : v.value]));
      }
    });
  } catch (err) {
    const mapped = engineError(err, stack.name);
    // A held lock is for the caller to wait out or refuse; anything else fails only this stack.
    if (mapped instanceof StackLockedError) throw mapped;
    if (mapped instanceof GitopsError) [error, hint] = [mapped.message, mapped.hint];
    else error = failureText(err, c.diagnostics);
  }
  const mandatory = mandatoryViolations(c);
  if (error !== undefined && mandatory.length) {
    // The engine only says that the operation failed; the violations say why.
    error = `${mandatory.length} mandatory policy violation(s):\n${mandatory.map(policyLine).join("\n")}`;
    hint = `change the resources named to comply, or the policy in ${POLICY_DIR}/ (README.md, "Policy pack"), on this branch`;
  }
  return {
    stack: stack.name,
    operation,
    commit: o.commit,
    status: error === undefined ? "succeeded" : "failed",
    counts: c.counts,
    changes: c.changes,
    diagnostics: c.diagnostics,
    policies: c.policies,
    outputs,
    error,
    hint,
    durationMs: Date.now() - started,
  };
}
