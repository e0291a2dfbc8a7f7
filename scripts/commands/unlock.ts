import type { CommandModule } from "yargs";
import { createContext, type GlobalOptions } from "../core/context";
import { openStack } from "../core/engine";
import { discoverStacks, selectStacks } from "../core/stacks";

interface Args extends GlobalOptions {
  stack: string;
}

export const unlockCommand: CommandModule<GlobalOptions, Args> = {
  command: "unlock",
  describe: "Clear a stack's lock left by a runner that died (the engine's `pulumi cancel`); only when its holder is gone",
  builder: (y) => y.option("stack", { type: "string", demandOption: true, describe: "The locked stack", requiresArg: true }) as never,
  handler: async (a) => {
    const ctx = await createContext(a, process.env, process.cwd());
    selectStacks(discoverStacks(ctx.repo, ctx.rules), [a.stack]);
    await (await openStack(ctx.engine, ctx.repo, a.stack, false)).cancel();
    ctx.log.info(`${a.stack}: lock cleared`);
  },
};
