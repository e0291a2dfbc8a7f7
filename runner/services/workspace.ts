/**
 * Engine operations and what they did: one operation at a time per stack, its events collected
 * into a summary (a StackResult) that reports and records are made from.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { EngineEvent, OpType } from "@pulumi/pulumi/automation";
import { CliError, engineError } from "./engineErrors";
import { guardPassphrase, withConfigCopy, type Stack } from "./engine";
import { GitopsError, PolicyViolationError, StackLockedError } from "../errors";
import type { Logger } from "../log";
import type { CheckOutcome } from "./checks";
import type { Gate, Promotion } from "./promotion";
import type { Fingerprint } from "./reviews";

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
const STACK_TYPE = "pulumi:pulumi:Stack";
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
  /** The stack's outputs as the update left them, secrets masked. */
  outputs: Record<string, unknown> = {};
  /** Whether an update got past its preview to its first step. */
  updating = false;

  /** A refresh announces every resource as "refresh"; only its outcome says what changed. */
  private readonly refreshing: boolean;

  constructor(
    private readonly log: Logger,
    private readonly operation: Operation,
  ) {
    this.refreshing = operation === "refresh" || operation === "drift";
  }

  readonly onEvent = (e: EngineEvent): void => {
    // A gated update sends its preview's steps first (`planning`); only the update's are its own.
    if (this.operation === "update" && (e.resourcePreEvent?.planning || e.resOutputsEvent?.planning)) return;
    if (e.resourcePreEvent && this.operation === "update") this.updating = true;
    if (e.resOutputsEvent?.metadata.type === STACK_TYPE)
      this.outputs = maskSecrets(e.resOutputsEvent.metadata.new?.outputs ?? {}) as Record<string, unknown>;
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
    if (REPLACE_PARTS.has(m.op) || m.type === STACK_TYPE) return;
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
    if (m.type === STACK_TYPE) return;
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
 * header says nothing (the Kubernetes provider puts "Preview failed: " before it): keep the reasons,
 * one per line, after what came before the header.
 */
function unwrapErrorList(message: string): string {
  const list = /^(.*?)\d+ errors? occurred:\s*\n([\s\S]*)$/.exec(message);
  if (!list) return message;
  const reasons = list[2]
    .split(/\n\s*\* /)
    .map((x) => x.replace(/^\s*\* /, "").trim())
    .filter(Boolean);
  if (reasons.length === 1) return list[1] + reasons[0];
  return [list[1].trim(), ...reasons.map((x) => `* ${x}`)].filter(Boolean).join("\n");
}

/** The error text of a failed operation, its reason first, without the CLI's noise. */
export function failureText(err: unknown, diagnostics: Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === "error");
  // The engine sums up a resource's failure in an error of its own ("preview failed"); the resource's says why.
  const own = errors.some((d) => d.resource) ? errors.filter((d) => d.resource) : errors;
  if (own.length) return own.map((d) => (d.resource ? `${d.resource}: ` : "") + unwrapErrorList(d.message)).join("\n");
  const text = err instanceof CliError ? err.stderr.trim() : err instanceof Error ? err.message : String(err);
  return text.replace(PLAIN, "");
}

/** One violation on one line: policy, resource, message. */
export function policyLine(v: PolicyViolation): string {
  return `${v.policy}${v.resource ? ` on ${v.type} ${v.resource}` : ""}: ${v.message}`;
}

/** The engine's command for each operation; a drift check is a refresh that changes nothing. */
const OPERATION_ARGS: Record<Operation, string[]> = {
  preview: ["preview"],
  update: ["up", "--yes"],
  refresh: ["refresh", "--yes", "--skip-preview"],
  drift: ["refresh", "--preview-only"],
};

export interface RunOptions {
  log: Logger;
  commit?: string;
  /** Recorded as the update's message in the stack's history. */
  message?: string;
  signal?: AbortSignal;
  /**
   * An update runs the engine's own preview first, in the same process, with the policy pack: a
   * mandatory violation stops it there, before any change, and is thrown as a PolicyViolationError.
   * (Without a preview the engine checks stack policies only once the update has made every resource.)
   */
  gated?: boolean;
}

/** Runs one operation on one stack and summarises it; engine failures become a failed result. */
export async function runOperation(stack: Stack, operation: Operation, o: RunOptions): Promise<StackResult> {
  const started = Date.now();
  guardPassphrase(stack.env, stack.workDir, stack.name);
  const c = new EventCollector(o.log, operation);
  let error: string | undefined;
  let hint: string | undefined;
  try {
    await withConfigCopy(stack.workDir, stack.name, async (configFile) => {
      const args = [...OPERATION_ARGS[operation], "--color", "never", ...(configFile ? ["--config-file", configFile] : [])];
      if (operation === "update" && !o.gated) args.push("--skip-preview");
      if (o.message !== undefined && (operation === "update" || operation === "refresh")) args.push("--message", o.message);
      if (operation === "preview" || operation === "update")
        for (const pack of policyPacks(stack.workDir)) args.push("--policy-pack", pack);
      await stack.operation(args, { onEvent: c.onEvent, signal: o.signal });
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
  const result: StackResult = {
    stack: stack.name,
    operation,
    commit: o.commit,
    status: error === undefined ? "succeeded" : "failed",
    counts: c.counts,
    changes: c.changes,
    diagnostics: c.diagnostics,
    policies: c.policies,
    outputs: operation === "update" && error === undefined ? c.outputs : undefined,
    error,
    hint,
    durationMs: Date.now() - started,
  };
  // A gated update that its preview stopped has changed nothing: its mandatory violations refuse the commit.
  const refusal = o.gated && !c.updating && o.commit !== undefined ? policyRefusal(result, o.commit) : undefined;
  if (refusal) throw refusal;
  return result;
}
