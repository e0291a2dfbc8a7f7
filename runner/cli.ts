/**
 * gitops: turns git state into infrastructure with the Pulumi engine. Builds the yargs parser from
 * the command modules; parses only when run directly, so tests can build it too.
 */
import yargs from "yargs";
import { affectedCommand } from "./commands/affected";
import { agentCommand } from "./commands/agent";
import { applyCommand } from "./commands/apply";
import { driftCommand } from "./commands/drift";
import { historyCommand } from "./commands/history";
import { initStackCommand } from "./commands/initStack";
import { previewCommand } from "./commands/preview";
import { promoteCommand } from "./commands/promote";
import { pulumiCommand } from "./commands/pulumi";
import { reportCommand } from "./commands/report";
import { restoreCommand } from "./commands/restore";
import { rollbackCommand } from "./commands/rollback";
import { statusCommand } from "./commands/status";
import { unlockCommand } from "./commands/unlock";
import { unpinCommand } from "./commands/unpin";
import { ExitCode, formatError, GitopsError, usageError } from "./errors";

const commands = [
  previewCommand,
  affectedCommand,
  reportCommand,
  applyCommand,
  statusCommand,
  historyCommand,
  rollbackCommand,
  promoteCommand,
  unpinCommand,
  unlockCommand,
  driftCommand,
  agentCommand,
  restoreCommand,
  initStackCommand,
  pulumiCommand,
];

export function buildParser(argv: string[]) {
  const named = commands.find((c) => String(c.command).split(" ")[0] === argv.find((a) => !a.startsWith("-")));
  const parser = yargs(argv)
    .scriptName("gitops")
    .usage(
      "$0 <command> [options]\n\nGitOps for Pulumi: preview on branches, apply from main, roll back, detect drift, or run as a pull-mode agent.",
    )
    .option("repo", {
      type: "string",
      describe: "The repository to work on (default: the one containing the current directory)",
      global: true,
      requiresArg: true,
    })
    .option("backend", {
      type: "string",
      describe: "State backend URL (default: $PULUMI_BACKEND_URL, else file://<repo>/.pulumi-gitops/state)",
      global: true,
      requiresArg: true,
    })
    .option("debug", { type: "boolean", describe: "Verbose logs and stack traces", global: true })
    .option("quiet", { type: "boolean", describe: "Only warnings and errors", global: true })
    // An option without a type keeps its text: a whole-number option's error quotes what was typed
    // (wholeNumberOption), not the NaN or the hexadecimal's value yargs would make of it.
    .parserConfiguration({ "parse-numbers": false })
    .demandCommand(1, "Name a command; see gitops --help")
    .strict()
    .recommendCommands()
    .epilogue(
      "Exit codes: 0 success or no changes, 1 failure, 2 changes or drift (with --detailed-exitcode / drift), 3 refused by a guard (branch, dirty tree, pin, lock), 64 usage error.",
    )
    // yargs reports a missing or bad option value (also one a `coerce` rejects) as its own error:
    // each is a usage error, with the command's help as the hint.
    .fail((msg, err) => {
      if (err instanceof GitopsError) throw err;
      throw usageError(
        msg ?? err?.message ?? String(err),
        `see \`gitops ${named ? `${String(named.command).split(" ")[0]} ` : ""}--help\``,
      );
    })
    .help()
    .wrap(Math.min(110, process.stdout.columns || 110));
  for (const c of commands) parser.command(c as never);
  return parser;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildParser(argv).parseAsync();
  } catch (err) {
    if (err instanceof GitopsError) {
      process.stderr.write(formatError(err));
      if (argv.includes("--debug")) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = ExitCode.failure;
    }
  }
}

if (require.main === module) void main(process.argv.slice(2));
