import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";

interface Args extends GlobalOptions {
  stack: string;
}

export const unpinCommand: CommandModule<GlobalOptions, Args> = {
  command: "unpin",
  describe: "Remove a rollback's pin, so that apply and the agent deploy main to the stack again",
  builder: (y) => y.option("stack", { type: "string", demandOption: true, describe: "The pinned stack", requiresArg: true }) as never,
  handler: async (a) => {
    const [{ createContext }, { unpin }] = await Promise.all([import("../services/context"), import("../flows/rollback")]);
    const ctx = await createContext(a, process.env, process.cwd());
    const pin = await unpin(ctx, a.stack);
    ctx.log.info(pin ? `${a.stack} is no longer pinned to ${pin.slice(0, 7)}; the next apply deploys main` : `${a.stack} was not pinned`);
  },
};
