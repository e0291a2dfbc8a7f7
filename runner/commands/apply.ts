import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode } from "../errors";
import { withApplyForge, type ApplyForgeArgs } from "../forge/target";
import { abortOnSignals } from "./interrupt";
import { withLockTimeout, withOutputs, withStacks } from "./options";

interface Args extends GlobalOptions, ApplyForgeArgs {
  stack?: string[];
  force?: boolean;
  accept?: string[];
  "lock-timeout": number;
  json?: string;
  report?: string;
}

export const applyCommand: CommandModule<GlobalOptions, Args> = {
  command: "apply",
  describe: "Deploy the out-of-sync stacks from the protected branch, in environment order",
  builder: (y) =>
    withApplyForge(withLockTimeout(withOutputs(withStacks(y))))
      .option("force", {
        type: "boolean",
        describe: "Also apply stacks pinned by a rollback, and over a commit HEAD does not contain (recorded on the stack)",
      })
      .option("accept", {
        type: "string",
        array: true,
        requiresArg: true,
        describe:
          "Deploy what no reviewed preview showed, when its fingerprint is this one (a refusal and `gitops preview` on the protected branch name it); recorded on the stack",
      })
      .example("$0 apply", "On main: deploy every stack whose files changed since the commit it runs")
      .example("$0 apply --accept 3f2a9c1e5b7d0a42", "Deploy a stack whose fingerprint you looked at (a refusal names it)")
      .example("$0 apply --stack dev --lock-timeout 120", "Deploy dev, waiting up to 2 minutes for another runner") as never,
  handler: async (a) => {
    const [{ createContext }, { apply }, { summaryLine }, { applyPosting, publishApply }, { printFailures, writeOutputs }] =
      await Promise.all([
        import("../services/context"),
        import("../flows/apply"),
        import("../services/report"),
        import("../forge/publish"),
        import("./output"),
      ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const posting = applyPosting(a, process.env, ctx.repo);
    const signal = abortOnSignals(ctx.log, "the stack's state stays consistent");
    const out = await apply(ctx, { stacks: a.stack, force: a.force, accept: a.accept, lockTimeout: a["lock-timeout"], signal });
    for (const r of out.results) ctx.log.info(summaryLine(r));
    writeOutputs(out.results, { title: "gitops apply", commit: out.commit }, a);
    if (posting) await publishApply(posting, out.commit, out.results, out.refusal, ctx.log);
    if (out.refusal) throw out.refusal;
    printFailures(
      out.results,
      (s) => `\`gitops status\` shows what ${s} runs now; fix the cause through a pull request to main, and the next apply retries ${s}`,
    );
    process.exitCode = out.results.some((r) => r.status === "failed") ? ExitCode.failure : ExitCode.ok;
  },
};
