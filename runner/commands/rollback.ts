import * as readline from "node:readline/promises";
import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode, refused } from "../errors";
import { abortOnSignals } from "./interrupt";
import { withLockTimeout, withOutputs } from "./options";

interface Args extends GlobalOptions {
  stack: string;
  to: string;
  yes?: boolean;
  force?: boolean;
  "lock-timeout": number;
  json?: string;
  report?: string;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const rollbackCommand: CommandModule<GlobalOptions, Args> = {
  command: "rollback",
  describe: "Deploy an older commit to a stack from a temporary checkout, and pin the stack to it",
  builder: (y) =>
    withLockTimeout(withOutputs(y))
      .option("stack", { type: "string", demandOption: true, describe: "The stack to roll back", requiresArg: true })
      .option("to", {
        type: "string",
        demandOption: true,
        describe: "A commit, tag, HEAD~n, or 'previous' (the commit the stack ran before its current one)",
        requiresArg: true,
      })
      .option("yes", { type: "boolean", describe: "Do not ask for confirmation after the preview (for CI)" })
      .option("force", { type: "boolean", describe: "Allow a commit the protected branch does not contain (recorded on the stack)" })
      .example("$0 rollback --stack prod --to previous", "Preview, confirm, deploy the commit prod ran before, and pin prod to it")
      .example("$0 rollback --stack staging --to v1.4.0 --yes", "Roll staging back to a tag without asking") as never,
  handler: async (a) => {
    const [{ createContext }, { rollback }, { summaryLine }, { printFailures, writeOutputs }] = await Promise.all([
      import("../services/context"),
      import("../flows/rollback"),
      import("../services/report"),
      import("./output"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const signal = abortOnSignals(ctx.log, "the temporary checkout is removed");
    const confirm = async () => {
      if (!process.stdin.isTTY)
        throw refused(
          "rollback asks for confirmation after its preview, and there is no terminal",
          "review the preview, then run it again with --yes",
        );
      return askOnTerminal(`Deploy this to ${a.stack} and pin it? [y/N] `);
    };
    const out = await rollback(ctx, {
      stack: a.stack,
      to: a.to,
      force: a.force,
      lockTimeout: a["lock-timeout"],
      confirm: a.yes ? undefined : confirm,
      signal,
    });
    if (out.declined) {
      ctx.log.info("not rolled back");
      return;
    }
    for (const r of out.results) ctx.log.info(summaryLine(r));
    writeOutputs(out.results, { title: `gitops rollback ${a.stack}`, commit: out.commit }, a);
    if (out.refusal) throw out.refusal;
    printFailures(
      out.results,
      (s) =>
        `${s} was not rolled back nor pinned; fix the cause, or choose another commit with --to (\`gitops history --stack ${s}\` lists what ran)`,
    );
    const ok = out.results[0]?.status === "succeeded";
    if (ok) {
      ctx.log.info(
        `${a.stack} now runs ${out.commit.slice(0, 7)} and is pinned: apply and the agent skip it until \`gitops unpin --stack ${a.stack}\``,
      );
      if (out.gitHint) ctx.log.info(`to make main declare what now runs: ${out.gitHint}`);
    }
    process.exitCode = ok ? ExitCode.ok : ExitCode.failure;
  },
};
