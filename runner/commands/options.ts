/** Option builders shared by several commands, composed into each command's builder. */
import type { Argv, Options } from "yargs";
import { checkOutputPath } from "./output";

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
