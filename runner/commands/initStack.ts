import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";

interface Args extends GlobalOptions {
  name: string;
}

export const initStackCommand: CommandModule<GlobalOptions, Args> = {
  command: "init-stack <name>",
  describe:
    "Create a stack in the backend and write its encryptionsalt: line into stacks/Pulumi.<name>.yaml, to commit before setting secrets",
  builder: (y) =>
    y
      .positional("name", { type: "string", demandOption: true, describe: "The stack, as in stacks/Pulumi.<name>.yaml" })
      .example(
        "$0 init-stack staging",
        "Then `gitops pulumi -- config set --secret --path --stack staging 'pulumi-gitops:app.env.API_TOKEN' ...` and commit the file",
      ) as never,
  handler: async (a) => {
    const [{ createContext }, { initStack }] = await Promise.all([import("../services/context"), import("../services/stackFiles")]);
    const ctx = await createContext(a, process.env, process.cwd());
    const out = await initStack(ctx, a.name);
    ctx.log.info(
      out.written
        ? `wrote the stack's encryptionsalt: line into ${out.file}: commit it`
        : `${out.file} already holds the stack's encryptionsalt: line`,
    );
  },
};
