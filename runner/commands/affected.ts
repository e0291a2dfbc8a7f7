import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { withTargets } from "./options";

interface Args extends GlobalOptions {
  base?: string;
  all?: boolean;
  json?: boolean;
}

export const affectedCommand: CommandModule<GlobalOptions, Args> = {
  command: "affected",
  describe: "List the stacks the current branch changes, compared with main: the ones `gitops preview` would preview",
  builder: (y) =>
    withTargets(y)
      .option("json", { type: "boolean", describe: "Print a JSON array (for a CI matrix) instead of a name per line" })
      .epilogue(
        "Scale-out across runners: one job lists the stacks, one job per stack runs `gitops preview --stack <name> --json <file>`, " +
          "and a last job merges the files into the pull request's one comment and status with `gitops report`. " +
          ".github/workflows/preview.yml does exactly this.",
      )
      .example("$0 affected", "One affected stack per line; nothing when the branch affects none")
      .example(
        'echo "stacks=$($0 affected --json)" >> "$GITHUB_OUTPUT"',
        "A job output for `matrix: { stack: ${{ fromJSON(...) }} }`",
      ) as never,
  handler: async (a) => {
    const [{ createContext }, { previewTargets }] = await Promise.all([import("../services/context"), import("../flows/preview")]);
    const ctx = await createContext(a, process.env, process.cwd());
    const { targets } = await previewTargets(ctx, a);
    process.stdout.write(a.json ? JSON.stringify(targets) + "\n" : targets.map((s) => s + "\n").join(""));
  },
};
