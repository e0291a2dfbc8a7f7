import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode } from "../errors";
import { withPreviewForge, type PreviewForgeArgs } from "../forge/target";
import { abortOnSignals } from "./interrupt";
import { wholeNumberOption, withDetailedExitcode, withOutputs, withStacks, withTargets } from "./options";

interface Args extends GlobalOptions, PreviewForgeArgs {
  base?: string;
  stack?: string[];
  all?: boolean;
  parallel: number;
  json?: string;
  report?: string;
  "detailed-exitcode"?: boolean;
}

export const previewCommand: CommandModule<GlobalOptions, Args> = {
  command: "preview",
  describe: "Preview the stacks that the current branch changes, compared with main, and report",
  builder: (y) =>
    withPreviewForge(withDetailedExitcode(withOutputs(withTargets(withStacks(y)))))
      .option("parallel", wholeNumberOption("parallel", { min: 1, example: 4, default: 2, describe: "How many stacks to preview at once" }))
      .conflicts("all", "stack")
      .example(
        "$0 preview --report preview.md --json preview.json",
        "Preview the affected stacks and write a PR comment and the full result",
      )
      .example(
        "$0 preview --comment --status",
        "In a pull request's CI job: post the report as its comment and set the status pulumi-gitops/preview",
      )
      .example("$0 preview --stack staging --detailed-exitcode", "Preview one stack; exit 2 if it would change") as never,
  handler: async (a) => {
    const [
      { createContext },
      { preview },
      { hasChanges },
      { summaryLine },
      { previewPosting, publishPreview, publishPreviewError },
      { printFailures, writeOutputs },
    ] = await Promise.all([
      import("../services/context"),
      import("../flows/preview"),
      import("../services/workspace"),
      import("../services/report"),
      import("../forge/publish"),
      import("./output"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const posting = previewPosting(a, process.env, ctx.repo);
    const signal = abortOnSignals(ctx.log, "nothing is changed by a preview");
    const out = await preview(ctx, { base: a.base, stacks: a.stack, all: a.all, parallel: a.parallel, signal }).catch(async (e) => {
      if (posting) await publishPreviewError(posting, e, ctx.repo, ctx.log);
      throw e;
    });
    for (const r of out.results) ctx.log.info(summaryLine(r));
    writeOutputs(out.results, { title: "Pulumi preview", commit: out.commit, unaffected: out.unaffected }, a);
    printFailures(out.results, (s) => `fix it on this branch; \`gitops preview --stack ${s}\` runs the preview again`);
    const failed = out.results.some((r) => r.status === "failed");
    process.exitCode = failed ? ExitCode.failure : a["detailed-exitcode"] && out.results.some(hasChanges) ? ExitCode.changes : ExitCode.ok;
    if (posting) await publishPreview(posting, out, ctx.log);
  },
};
