import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode } from "../errors";
import { abortOnSignals } from "./interrupt";
import { withLockTimeout, withOutputs } from "./options";

interface Args extends GlobalOptions {
  stack: string;
  to?: string;
  override?: string;
  "lock-timeout": number;
  json?: string;
  report?: string;
}

export const promoteCommand: CommandModule<GlobalOptions, Args> = {
  command: "promote",
  describe: "Promote a gated stack now: the commit its gate offers (or --to), once the gate is open, or with --override <reason>",
  builder: (y) =>
    withLockTimeout(withOutputs(y))
      .option("stack", { type: "string", demandOption: true, describe: "The gated stack (stacks/gitops.yaml stages)", requiresArg: true })
      .option("to", {
        type: "string",
        describe: "A commit, tag or HEAD~n on the protected branch (default: the gate's candidate)",
        requiresArg: true,
      })
      .option("override", {
        type: "string",
        describe: "Promote although the gate is closed; the reason is recorded on the stack",
        requiresArg: true,
      })
      .check((a) => {
        if (a.override !== undefined && !String(a.override).trim())
          throw new Error("--override needs a reason, e.g. --override 'hotfix for INC-42'");
        return true;
      })
      .example("$0 promote --stack prod", "Deploy to prod what staging verified, if it has soaked and its checks pass now")
      .example("$0 promote --stack prod --to 3f2a9c1 --override 'hotfix, INC-42'", "Skip the gate, recorded on prod") as never,
  handler: async (a) => {
    const [{ createContext }, { promote }, { summaryLine }, { printFailures, writeOutputs }] = await Promise.all([
      import("../services/context"),
      import("../flows/promote"),
      import("../services/report"),
      import("./output"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const signal = abortOnSignals(ctx.log, "the stack's state stays consistent");
    const out = await promote(ctx, { stack: a.stack, to: a.to, override: a.override, lockTimeout: a["lock-timeout"], signal });
    for (const r of out.results) ctx.log.info(summaryLine(r));
    writeOutputs(out.results, { title: `gitops promote ${a.stack}`, commit: out.commit }, a);
    if (out.refusal) throw out.refusal;
    printFailures(out.results, (s) => `\`gitops status\` shows what ${s} runs now and its gate`);
    process.exitCode = out.results.some((r) => r.status === "failed") ? ExitCode.failure : ExitCode.ok;
  },
};
