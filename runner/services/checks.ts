/**
 * A stage's verification checks (stacks/gitops.yaml `stages.<stack>.checks`), run against what a
 * stack runs: an HTTP request that must answer the expected status a number of times in a row, or
 * any command that must exit 0. Each check says why it failed, in words a report can show.
 */
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { durationMs } from "../../config/duration";
import type { Check } from "./rules";
import type { Logger } from "../log";

const run = promisify(execFile);

export interface CheckOutcome {
  name: string;
  passed: boolean;
  /** What it saw: the status, or the command's exit and last line of output. */
  detail: string;
}

export interface CheckTarget {
  stack: string;
  commit: string;
  /** A checkout of `commit`, where commands run. */
  dir: string;
  /** The stack's outputs, secrets masked. */
  outputs: Record<string, unknown>;
  log: Logger;
  signal?: AbortSignal;
}

const HTTP_TIMEOUT = "10s";
const COMMAND_TIMEOUT = "5m";

/** `${outputs.<name>}` in `text` replaced by the output's value; an unknown output is named in the error. */
export function withOutputs(text: string, outputs: Record<string, unknown>): string {
  return text.replace(/\$\{outputs\.([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    if (!(name in outputs)) throw new Error(`the stack has no output '${name}' (it has: ${Object.keys(outputs).join(", ") || "none"})`);
    const v = outputs[name];
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}

async function httpCheck(http: NonNullable<Check["http"]>, timeout: string, t: CheckTarget): Promise<Omit<CheckOutcome, "name">> {
  const url = withOutputs(http.url, t.outputs);
  const want = http.status ?? 200;
  const passes = http.passes ?? 1;
  const attempts = http.attempts ?? passes;
  const pause = durationMs(http.interval ?? "1s")!;
  let inARow = 0;
  let last = "";
  for (let i = 1; i <= attempts; i++) {
    if (i > 1) await sleep(pause, undefined, { signal: t.signal });
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(durationMs(timeout)!), ...(t.signal ? [t.signal] : [])]);
      const res = await fetch(url, { signal, redirect: "manual" });
      await res.body?.cancel();
      last = `${url} answered ${res.status}`;
      inARow = res.status === want ? inARow + 1 : 0;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = `${url}: ${e.name === "TimeoutError" ? `no answer within ${timeout}` : (e.cause?.code ?? e.message)}`;
      inARow = 0;
    }
    t.log.debug(`check ${url}: attempt ${i}: ${last}`);
    if (inARow === passes) return { passed: true, detail: `${last}, ${passes} time(s) in a row` };
    // Not enough attempts left to make the passes in a row.
    if (attempts - i < passes - inARow) break;
  }
  return { passed: false, detail: `${last} (expected ${want}${passes > 1 ? `, ${passes} times in a row` : ""})` };
}

async function commandCheck(command: string, timeout: string, t: CheckTarget): Promise<Omit<CheckOutcome, "name">> {
  const env: NodeJS.ProcessEnv = { ...process.env, GITOPS_STACK: t.stack, GITOPS_COMMIT: t.commit };
  for (const [k, v] of Object.entries(t.outputs)) env[`GITOPS_OUTPUT_${k.toUpperCase()}`] = typeof v === "string" ? v : JSON.stringify(v);
  try {
    await run("sh", ["-c", command], { cwd: t.dir, env, timeout: durationMs(timeout), signal: t.signal, maxBuffer: 16 * 1024 * 1024 });
    return { passed: true, detail: `\`${command}\` exited 0` };
  } catch (err) {
    const e = err as { code?: number | string; killed?: boolean; signal?: string; stderr?: string; stdout?: string };
    const said = `${e.stderr ?? ""}\n${e.stdout ?? ""}`.trim().split("\n").pop()?.slice(0, 200);
    const how = e.killed
      ? `did not end within ${timeout}`
      : typeof e.code === "number"
        ? `exited ${e.code}`
        : `failed (${e.code ?? e.signal})`;
    return { passed: false, detail: `\`${command}\` ${how}${said ? `: ${said}` : ""}` };
  }
}

/** Runs every check, in order (all of them, so a report shows each one's result). */
export async function runChecks(checks: readonly Check[], t: CheckTarget): Promise<CheckOutcome[]> {
  const out: CheckOutcome[] = [];
  for (const c of checks) {
    let r: Omit<CheckOutcome, "name">;
    try {
      r = c.http ? await httpCheck(c.http, c.timeout ?? HTTP_TIMEOUT, t) : await commandCheck(c.command!, c.timeout ?? COMMAND_TIMEOUT, t);
    } catch (err) {
      if (t.signal?.aborted) throw err;
      r = { passed: false, detail: (err as Error).message };
    }
    t.log.info(`check ${c.name}: ${r.passed ? "passed" : "FAILED"}: ${r.detail}`);
    out.push({ name: c.name, ...r });
  }
  return out;
}
