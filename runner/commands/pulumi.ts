import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";

interface Args extends GlobalOptions {
  "--"?: (string | number)[];
}

export const pulumiCommand: CommandModule<GlobalOptions, Args> = {
  command: "pulumi",
  describe: "Run the engine's own pulumi with the runner's environment (engine, PULUMI_HOME, backend, passphrase): gitops pulumi -- <args>",
  builder: (y) =>
    y
      .parserConfiguration({ "populate--": true })
      .example("$0 pulumi -- stack ls", "The stacks in the runner's backend")
      .example(
        "$0 pulumi -- config set --secret --path --stack staging 'pulumi-gitops:app.env.API_TOKEN' s3cr3t",
        "A secret in the stack's file, to commit",
      ) as never,
  handler: async (a) => {
    const [{ createContext }, { runPulumi }] = await Promise.all([import("../services/context"), import("../services/stackFiles")]);
    const ctx = await createContext(a, process.env, process.cwd());
    process.exitCode = await runPulumi(ctx, (a["--"] ?? []).map(String), process.env);
  },
};
