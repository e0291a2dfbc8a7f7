import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { ExitCode } from "../errors";
import { withOutputs, withStacks } from "./options";
import { abortOnSignals } from "./interrupt";

interface Args extends GlobalOptions {
  stack?: string[];
  remediate?: boolean;
  json?: string;
  report?: string;
}

export const driftCommand: CommandModule<GlobalOptions, Args> = {
  command: "drift",
  describe: "Check whether what runs still matches what each stack last deployed (a preview-only refresh); --remediate fixes it",
  builder: (y) =>
    withOutputs(withStacks(y))
      .option("remediate", {
        type: "boolean",
        describe:
          "Bring drifted stacks back: back up the state, refresh it, and deploy the stack's recorded commit again (from a temporary checkout when HEAD is elsewhere). Only on the protected branch, clean and undiverged, like apply; recorded as command 'remediate'",
      })
      .epilogue(
        "Detection changes nothing. Each drifted resource is reported with the properties that differ (recorded value, then the real one), or as gone. " +
          "Stacks never deployed, and stacks whose Kubernetes provider renders manifests to files (nothing to read back), are skipped with the reason. " +
          "Exit codes: 0 no drift (or all of it remediated), 2 drift found, 1 a refresh or remediation failed, 3 --remediate refused by a guard.",
      )
      .example("$0 drift", "Check every deployed stack; exit 2 if any drifted")
      .example("$0 drift --stack prod --json drift.json --report drift.md", "Check prod and write the full result and a Markdown report")
      .example("$0 drift --stack prod --remediate", "On main: restore prod to the commit it last deployed") as never,
  handler: async (a) => {
    const [{ createContext }, { drift }, { hasChanges }, { summaryLine }, { printFailures, writeOutputs }] = await Promise.all([
      import("../services/context"),
      import("../flows/drift"),
      import("../services/workspace"),
      import("../services/report"),
      import("./output"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const signal = abortOnSignals(ctx.log, "the stacks' state stays consistent");
    const out = await drift(ctx, { stacks: a.stack, remediate: a.remediate, signal });
    for (const r of out.results) ctx.log.info(summaryLine(r) + (r.reason && r.status !== "skipped" ? `: ${r.reason}` : ""));
    writeOutputs(out.results, { title: a.remediate ? "Drift remediation" : "Drift", commit: out.commit }, a);
    printFailures(out.results, (s) =>
      a.remediate
        ? `${s} keeps its recorded commit; fix the cause, then \`gitops drift --stack ${s} --remediate\` again`
        : `the refresh could not read ${s}'s resources: check that its target is reachable with these credentials, then run \`gitops drift --stack ${s}\` again`,
    );
    const failed = out.results.some((r) => r.status === "failed");
    const drifted = out.results.some((r) => r.operation === "drift" && r.status === "succeeded" && hasChanges(r));
    process.exitCode = failed ? ExitCode.failure : drifted ? ExitCode.changes : ExitCode.ok;
  },
};
