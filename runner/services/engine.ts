/**
 * The engine's own CLI, run directly: a stack of the program checked out in a directory, and every
 * `pulumi` command the runner runs on it. The Automation API runs the same commands, but adds its
 * own to each: `pulumi version` and `stack select` to open a stack, two `stack output`s and a
 * `history` after every update, and half a second of module loading before any of them. Operations
 * report their progress as the Automation API's does: the engine's event log, one JSON event a line.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { promisify } from "node:util";
import { parse } from "yaml";
import type { EngineEvent, UpdateSummary } from "@pulumi/pulumi/automation";
import { realTargets, stackFileName } from "../../config";
import { CliError, engineError, stackExists } from "./engineErrors";
import { GitopsError, StackMissingError, usageError } from "../errors";
import { DEMO_PASSPHRASE } from "./context";

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
  /** NODE_COMPILE_CACHE of the engine's Node processes (caches.ts). */
  compileCache: string;
}

/** What the engine's own logs of its runs may take in $PULUMI_HOME/logs, in MB. */
const ENGINE_LOG_MB = 5;

/** The environment every engine process gets: nothing at run time may try the network. */
export function engineEnv(s: EngineSettings): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${path.join(s.engineDir, "bin")}${path.delimiter}${s.inheritedPath}`,
    PULUMI_HOME: s.pulumiHome,
    PULUMI_BACKEND_URL: s.backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // A stack file without `encryptionsalt:` uses the secrets provider its state records (every
    // stack the runner creates records one) instead of making a new one and writing it into the file.
    PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true",
    // The program is type-checked once, by `npm test`'s tsc, not by every engine run: ts-node's
    // type-check costs seconds and hundreds of MiB per run, all of it again on a fresh machine.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    // Every engine process writes a log to $PULUMI_HOME/logs and first lists them all to rotate
    // them (by default at 500 MB, some 90,000 logs): 0.25 CPU-s a process at 30,000. The newest
    // runs' logs, a couple of thousand, are kept for `pulumi logs`.
    PULUMI_LOG_ROTATION_MAX_TOTAL_MB: String(ENGINE_LOG_MB),
    NODE_COMPILE_CACHE: s.compileCache,
    GITOPS_ROOT: s.root,
  };
  if (s.passphrase !== undefined) env.PULUMI_CONFIG_PASSPHRASE = s.passphrase;
  else if (s.passphraseFile !== undefined) env.PULUMI_CONFIG_PASSPHRASE_FILE = s.passphraseFile;
  return env;
}

/** The engine's `pulumi`, or an error that says how to get one. */
export function engineBin(s: EngineSettings): string {
  const bin = path.join(s.engineDir, "bin", "pulumi");
  if (!fs.existsSync(bin)) {
    throw new GitopsError(
      `no Pulumi engine at ${s.engineDir}`,
      "run `npm run engine` (provision/pulumi-engine.sh) to install or build it, or set PULUMI_GITOPS_ENGINE to an engine directory",
    );
  }
  return bin;
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

/** Runs the engine's own CLI in `cwd` with `env` added to the process's environment; its stdout. */
async function pulumiCli(bin: string, cwd: string, env: Record<string, string>, args: string[]): Promise<string> {
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

/**
 * The engine's event log, read as the engine writes it: a FIFO in `dir`, each line an event for
 * `onEvent`. Not a file: `pulumi up` with its preview opens (and truncates) the log once per phase,
 * which a reader of a file cannot follow, where a FIFO carries both phases in order. The runner
 * holds a write end of its own, so the log neither ends between the phases nor blocks the engine's
 * open; `end`, once the engine has exited, closes it and resolves when every event has been read.
 */
async function eventLog(dir: string, onEvent: (e: EngineEvent) => void): Promise<{ path: string; end: () => Promise<void> }> {
  const fifo = path.join(dir, "events");
  await run("mkfifo", ["-m", "600", fifo]);
  const reader = new net.Socket({
    fd: fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK),
    readable: true,
    writable: false,
  });
  const holder = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  let failure: unknown;
  const lines = readline.createInterface({ input: reader, crlfDelay: Infinity });
  lines.on("line", (line) => {
    try {
      if (line.trim() && failure === undefined) onEvent(JSON.parse(line) as EngineEvent);
    } catch (err) {
      failure = err;
    }
  });
  const ended = new Promise<void>((resolve, reject) => {
    lines.once("close", resolve);
    reader.once("error", reject);
  });
  ended.catch(() => undefined); // `end` reports it
  return {
    path: fifo,
    end: async () => {
      fs.closeSync(holder);
      await ended;
      if (failure !== undefined) throw failure;
    },
  };
}

interface OperationOptions {
  onEvent: (e: EngineEvent) => void;
  /** Stops the engine gracefully (SIGINT, as on Ctrl-C): it finishes its steps in flight and releases the lock. */
  signal?: AbortSignal;
}

/** The engine's version, asked once per engine: only fingerprints name it. */
const versions = new Map<string, Promise<string>>();

/** Where an engine's version is kept, beside the engine, with the identity of the binary that gave it. */
const VERSION_FILE = "version.json";

/**
 * The engine's version. `pulumi version` is a whole engine process (0.2 CPU-s of start-up) beside
 * every preview, so its answer is kept in the engine directory, keyed by the binary's inode, size
 * and time: a rebuilt or replaced engine is asked again. A directory the runner cannot write only
 * means asking every time.
 */
export function engineVersion(s: EngineSettings): Promise<string> {
  const bin = engineBin(s);
  let v = versions.get(bin);
  if (!v) {
    v = rememberedVersion(s, bin);
    versions.set(bin, v);
  }
  return v;
}

async function rememberedVersion(s: EngineSettings, bin: string): Promise<string> {
  const st = fs.statSync(bin);
  const identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const file = path.join(s.engineDir, VERSION_FILE);
  try {
    const kept = JSON.parse(fs.readFileSync(file, "utf8")) as { identity?: unknown; version?: unknown };
    if (kept.identity === identity && typeof kept.version === "string") return kept.version;
  } catch {
    // None kept yet, or unreadable: asked below.
  }
  // With the runner's environment: its PULUMI_HOME holds the log this command writes too.
  const { stdout } = await run(bin, ["version"], { env: { ...process.env, ...engineEnv(s) } });
  const version = stdout.trim().replace(/^v/, "");
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify({ identity, version }));
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
  return version;
}

/**
 * The tag commands run without Go's garbage collector. They never load a stack's state (a backend
 * keeps tags apart from it): their heap is the CLI's own start-up, which the collector went through
 * eight times. Without it a command takes 0.15 CPU-s instead of 0.22 and 17 MiB more memory, and
 * `status` runs one per stack.
 */
const TAG_COMMAND_ENV = { GOGC: "off" };

/**
 * A stack of the program checked out at `workDir`. Opening one runs nothing: the first command
 * finds out whether the backend has it, and creates it then when the handle may (`create`).
 */
export class Stack {
  private creating?: Promise<void>;

  constructor(
    readonly name: string,
    readonly workDir: string,
    readonly settings: EngineSettings,
    private readonly create: boolean,
  ) {}

  get env(): Record<string, string> {
    return engineEnv(this.settings);
  }

  get bin(): string {
    return engineBin(this.settings);
  }

  /** Runs `pulumi <args> --stack <name>`, `env` added to the engine's; its stdout. A stack the backend lacks is a StackMissingError. */
  cli(args: string[], env: Record<string, string> = {}): Promise<string> {
    return this.existing(() => pulumiCli(this.bin, this.workDir, { ...this.env, ...env }, [...args, "--stack", this.name]));
  }

  async listTags(): Promise<Record<string, string>> {
    return JSON.parse(await this.cli(["stack", "tag", "ls", "--json"], TAG_COMMAND_ENV)) as Record<string, string>;
  }

  async setTag(key: string, value: string): Promise<void> {
    await this.cli(["stack", "tag", "set", key, value], TAG_COMMAND_ENV);
  }

  async removeTag(key: string): Promise<void> {
    await this.cli(["stack", "tag", "rm", key], TAG_COMMAND_ENV);
  }

  /** The stack's updates, newest first: the newest `pageSize` of them, or all. Never with secrets. */
  async history(pageSize?: number): Promise<UpdateSummary[]> {
    const page = pageSize ? ["--page-size", String(pageSize), "--page", "1"] : [];
    const text = await this.cli(["stack", "history", "--json", ...page]);
    return JSON.parse(text, (key, value) =>
      (key === "startTime" || key === "endTime") && typeof value === "string" ? new Date(value) : value,
    );
  }

  /** The stack's outputs as the engine keeps them, secrets masked by the engine. */
  async outputs(): Promise<Record<string, unknown>> {
    const text = await this.cli(["stack", "output", "--json"]);
    return text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** Removes the stack's lock files, whoever holds them (see locks.ts for when that is safe). */
  async cancel(): Promise<void> {
    await this.cli(["cancel", "--yes"]);
  }

  /**
   * Runs the operation `args` (`preview`, `up`, `refresh` and their flags), sending each engine
   * event to `onEvent` as it comes. A failure is a CliError with the engine's stderr.
   */
  operation(args: string[], o: OperationOptions): Promise<void> {
    return this.existing(() =>
      withPrivateDir(async (dir) => {
        const events = await eventLog(dir, o.onEvent);
        const all = [...args, "--stack", this.name, "--exec-kind", "auto.local", "--event-log", events.path, "--non-interactive"];
        const child = spawn(this.bin, all, {
          cwd: this.workDir,
          env: { ...process.env, ...this.env, PULUMI_DEBUG_COMMANDS: "true", PULUMI_AUTOMATION_API: "true" },
          stdio: ["ignore", "pipe", "pipe"],
        });
        const stop = () => child.kill("SIGINT");
        o.signal?.addEventListener("abort", stop, { once: true });
        let [stdout, stderr] = ["", ""];
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        let code: number | null;
        try {
          code = await new Promise<number | null>((resolve, reject) => {
            child.once("error", reject);
            child.once("close", resolve);
          });
        } finally {
          o.signal?.removeEventListener("abort", stop);
          await events.end();
        }
        if (code !== 0) throw new CliError(all, stderr || `exit code ${code}`, stdout);
      }),
    );
  }

  /** Runs `command`; when the backend lacks the stack and this handle may create it, creates it and runs `command` again. */
  private async existing<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      const mapped = engineError(err, this.name);
      if (!(this.create && mapped instanceof StackMissingError)) throw mapped;
    }
    await (this.creating ??= initStack(this.settings, this.workDir, this.name));
    return command();
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
      await pulumiCli(engineBin(s), dir, env, ["stack", "init", "--stack", name, "--no-select"]);
    } catch (err) {
      // Another runner created it meanwhile: it exists now, which is all we need.
      if (!stackExists(err)) throw engineError(err, name);
    }
  });
}

/**
 * Stack `name` of the program checked out at `workDir`; the backend creates it on first use when
 * `create` is set, else a command on a stack it lacks is a StackMissingError.
 */
export function openStack(s: EngineSettings, workDir: string, name: string, create: boolean): Stack {
  engineBin(s);
  return new Stack(name, workDir, s, create);
}

/** The stack when the backend has it, without creating it; undefined when it does not. */
export async function findStack(s: EngineSettings, workDir: string, name: string): Promise<Stack | undefined> {
  const stack = openStack(s, workDir, name, false);
  try {
    await stack.listTags();
    return stack;
  } catch (err) {
    if (err instanceof StackMissingError) return undefined;
    throw err;
  }
}

/** The names of the stacks the backend holds for the program at `workDir`: one `pulumi stack ls`. */
export async function listStacks(s: EngineSettings, workDir: string): Promise<Set<string>> {
  let out: string;
  try {
    out = await pulumiCli(engineBin(s), workDir, engineEnv(s), ["stack", "ls", "--json"]);
  } catch (err) {
    throw engineError(err, "(listing the stacks)");
  }
  // Pulumi Cloud may qualify a name with its organization and project; the stack's own name is last.
  return new Set((JSON.parse(out) as { name: string }[]).map((x) => x.name.split("/").pop()!));
}
