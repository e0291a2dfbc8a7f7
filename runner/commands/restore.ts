import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";

interface Args extends GlobalOptions {
  stack: string;
  file?: string;
}

export const restoreCommand: CommandModule<GlobalOptions, Args> = {
  command: "restore",
  describe: "Put a stack's state back from a backup (the newest one by default), e.g. after a failed write",
  builder: (y) =>
    y
      .option("stack", { type: "string", demandOption: true, describe: "The stack to restore", requiresArg: true })
      .option("file", {
        type: "string",
        describe: "The backup to import (default: the newest in .pulumi-gitops/backups/<stack>/)",
        requiresArg: true,
      })
      .example("$0 restore --stack dev", "Import dev's newest backup; the next apply deploys what changed since its commit") as never,
  handler: async (a) => {
    const [{ createContext }, { restore }] = await Promise.all([import("../services/context"), import("../services/stackFiles")]);
    const ctx = await createContext(a, process.env, process.cwd());
    const out = await restore(ctx, a.stack, a.file);
    ctx.log.info(
      `${a.stack}: state restored from ${out.file}${out.commit ? `, deployed from ${out.commit.slice(0, 7)}` : ""}; the next apply deploys ${out.commit ? "what changed since" : "the stack in full"}`,
    );
  },
};
