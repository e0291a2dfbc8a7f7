import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode } from "../errors";
import { withPreviewForge, type PreviewForgeArgs } from "../forge/target";
import { withDetailedExitcode, withOutputs } from "./options";

interface Args extends GlobalOptions, PreviewForgeArgs {
  results: string[];
  affected?: string[];
  json?: string;
  report?: string;
  "detailed-exitcode"?: boolean;
}

/** --affected takes what `gitops affected --json` printed. */
function stackList(value: unknown): string[] {
  const text = String(Array.isArray(value) ? value[value.length - 1] : value);
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    list = undefined;
  }
  // yargs passes on only the message of an error thrown here: the example goes into it.
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string"))
    throw new Error(
      `--affected takes a JSON array of stack names as \`gitops affected --json\` prints it, not '${text}' (for example --affected '["dev","staging"]')`,
    );
  return list;
}

export const reportCommand: CommandModule<GlobalOptions, Args> = {
  command: "report <results..>",
  describe: "Merge the JSON results of per-stack previews (one CI job each) into one report, pull request comment and status",
  builder: (y) =>
    withPreviewForge(withDetailedExitcode(withOutputs(y)))
      .positional("results", {
        type: "string",
        array: true,
        describe: "Result files that `gitops preview --stack <name> --json <file>` wrote, or directories holding them",
      })
      .option("affected", {
        describe: "The stacks the jobs were to preview (`gitops affected --json`): one without a result counts as failed",
        requiresArg: true,
        coerce: stackList,
      })
      .epilogue(
        "The comment, the status and the exit code are those of one preview of all the stacks: 1 when any stack failed. " +
          "Every result must be of the same commit, each stack once.",
      )
      .example(
        `$0 report results/ --affected '["dev","staging"]' --comment --status`,
        "In the pull request's last job: merge the matrix jobs' downloaded results, post the comment and set pulumi-gitops/preview",
      ) as never,
  handler: async (a) => {
    const [
      { createContext },
      { hasChanges },
      { summaryLine },
      { expectResults, readResultFiles },
      { discoverStacks },
      { headCommit },
      { previewPosting, publishPreview, publishPreviewError },
      { printFailures, writeOutputs },
    ] = await Promise.all([
      import("../services/context"),
      import("../services/workspace"),
      import("../services/report"),
      import("../services/resultFiles"),
      import("../services/stacks"),
      import("../services/git"),
      import("../forge/publish"),
      import("./output"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const posting = previewPosting(a, process.env, ctx.repo);
    const { commit, results, unaffected } = await (async () => {
      const merged = readResultFiles(a.results);
      const previewed = a.affected ?? merged.results.map((r) => r.stack);
      return {
        commit: merged.commit ?? (await headCommit(ctx.repo)),
        results: a.affected ? expectResults(merged, a.affected) : merged.results,
        unaffected: discoverStacks(ctx.repo, ctx.rules).filter((s) => !previewed.includes(s)),
      };
    })().catch(async (e) => {
      if (posting) await publishPreviewError(posting, e, ctx.repo, ctx.log);
      throw e;
    });
    for (const r of results) ctx.log.info(summaryLine(r));
    writeOutputs(results, { title: "Pulumi preview", commit, unaffected }, a);
    printFailures(results, (s) => `fix it on this branch; \`gitops preview --stack ${s}\` runs the preview again`);
    const failed = results.some((r) => r.status === "failed");
    process.exitCode = failed ? ExitCode.failure : a["detailed-exitcode"] && results.some(hasChanges) ? ExitCode.changes : ExitCode.ok;
    if (posting) await publishPreview(posting, { commit, results, unaffected }, ctx.log);
  },
};
