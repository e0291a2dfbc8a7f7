/** Option builders shared by several commands, composed into each command's builder. */
import type { Argv, Options } from "yargs";
import * as fs from "node:fs";
import * as path from "node:path";
import { usageError } from "../errors";

/**
 * A yargs `coerce` for an option that takes a whole number of at least `min`: anything else is a
 * usage error (exit 64, see gitops.ts) naming the option, not a NaN that waits forever or fails later.
 */
export const wholeNumber =
  (option: string, min: number, example: number) =>
  (value: unknown): number => {
    const text = String(Array.isArray(value) ? value[value.length - 1] : value).trim();
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    // yargs passes on only the message of an error thrown here: the example goes into it.
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(
        `--${option} takes a whole number${min ? ` of at least ${min}` : ""}, not '${text}' (for example --${option} ${example})`,
      );
    return n;
  };

/** How preview and affected choose their stacks: those a branch changes compared with a base, or all. */
export const withTargets = <T>(y: Argv<T>) =>
  y
    .option("base", {
      type: "string",
      describe: "Compare with this ref (default: <remote>/<protected branch>, else the local protected branch)",
      requiresArg: true,
    })
    .option("all", { type: "boolean", describe: "Every stack, whatever changed" });

/** preview's and report's: exit 2 for changes, so a pipeline can branch on them. */
export const withDetailedExitcode = <T>(y: Argv<T>) =>
  y.option("detailed-exitcode", { type: "boolean", describe: "Exit 2 when any stack has changes (0 when none)" });

export const withStacks = <T>(y: Argv<T>) =>
  y.option("stack", { type: "string", array: true, describe: "Only these stacks (repeatable)", requiresArg: true });

export const withOutputs = <T>(y: Argv<T>) =>
  y
    .option("json", { type: "string", describe: "Write the full result as JSON to this file ('-' for stdout)", requiresArg: true })
    .option("report", { type: "string", describe: "Write a Markdown report for a pull-request comment to this file", requiresArg: true })
    // At parse time, before any work: see checkOutputPath.
    .check((a) => {
      checkOutputPath("json", a.json as string | undefined);
      checkOutputPath("report", a.report as string | undefined);
      return true;
    });

/**
 * An option that takes a whole number (see {@link wholeNumber}). It has no yargs type: the parser
 * keeps the text as written (cli.ts turns number parsing off), so an error quotes what the user
 * typed, and `--help` does not call the option a string.
 */
export function wholeNumberOption(option: string, o: { min: number; example: number; default?: number; describe: string }): Options {
  return {
    requiresArg: true,
    ...(o.default === undefined ? {} : { default: o.default }),
    coerce: wholeNumber(option, o.min, o.example),
    describe: o.describe,
  };
}

/** --lock-timeout, of the commands that deploy and of the agent. */
export const lockTimeoutOption = (seconds: number): Options =>
  wholeNumberOption("lock-timeout", {
    min: 0,
    example: 120,
    default: seconds,
    describe: "Seconds to wait, with backoff, while another runner holds a stack's lock (Ctrl-C or SIGTERM ends the wait)",
  });

export const withLockTimeout = <T>(y: Argv<T>) => y.option("lock-timeout", lockTimeoutOption(0));

/**
 * Refuses an output file that cannot be written, before any work: a report that fails to be written
 * after an apply would turn the pipeline red after the infrastructure changed.
 */
export function checkOutputPath(option: string, file: string | undefined): void {
  if (file === undefined || (option === "json" && file === "-")) return;
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory();
  if (!isDir(dir))
    throw usageError(
      `--${option} ${file}: the directory ${dir} does not exist`,
      `create it first (mkdir -p ${dir}), or write the ${option} file elsewhere`,
    );
  if (isDir(target))
    throw usageError(
      `--${option} ${file} is a directory`,
      `name a file, e.g. --${option} ${path.join(file, option === "json" ? "result.json" : "report.md")}`,
    );
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw usageError(
      `--${option} ${file}: the directory ${dir} is not writable`,
      `write the ${option} file to a directory you can write to`,
    );
  }
}
