import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { holderId } from "../errors";

interface Args extends GlobalOptions {
  stack: string;
  gone?: string[];
}

export const unlockCommand: CommandModule<GlobalOptions, Args> = {
  command: "unlock",
  describe: "Clear a stack's lock left by a runner that died; only when you confirm each holder is gone and none runs here",
  builder: (y) =>
    y
      .option("stack", { type: "string", demandOption: true, describe: "The locked stack", requiresArg: true })
      .option("gone", {
        type: "string",
        array: true,
        requiresArg: true,
        describe: "pid@host of a lock holder you made sure has ended (repeatable); without it, unlock only names the holders",
      })
      .example("$0 unlock --stack dev", "Name who holds dev's lock; clears nothing")
      .example(
        "$0 unlock --stack dev --gone 4242@ci-runner-7",
        "Clear it once you made sure that process 4242 on ci-runner-7 is gone",
      ) as never,
  handler: async (a) => {
    const [{ createContext }, { unlock }] = await Promise.all([import("../services/context"), import("../services/locks")]);
    const ctx = await createContext(a, process.env, process.cwd());
    const cleared = await unlock(ctx, a.stack, a.gone ?? []);
    ctx.log.info(
      cleared.length
        ? `${a.stack}: lock cleared (held by ${cleared.map(holderId).join(", ")})`
        : `${a.stack}: not locked, nothing to clear`,
    );
  },
};
