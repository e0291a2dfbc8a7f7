/** Option builders shared by several commands, composed into each command's builder. */
import type { Argv } from "yargs";

export const withStacks = <T>(y: Argv<T>) =>
  y.option("stack", { type: "string", array: true, describe: "Only these stacks (repeatable)", requiresArg: true });

export const withOutputs = <T>(y: Argv<T>) =>
  y
    .option("json", { type: "string", describe: "Write the full result as JSON to this file ('-' for stdout)", requiresArg: true })
    .option("report", { type: "string", describe: "Write a Markdown report for a pull-request comment to this file", requiresArg: true });

export const withLockTimeout = <T>(y: Argv<T>) =>
  y.option("lock-timeout", { type: "number", default: 0, describe: "Seconds to wait, with backoff, while another runner holds a stack's lock" });
