import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { wholeNumberOption } from "./options";

interface Args extends GlobalOptions {
  stack: string;
  limit: number;
  json?: boolean;
}

export const historyCommand: CommandModule<GlobalOptions, Args> = {
  command: "history",
  describe: "List a stack's updates: commit, kind, result and resource changes, newest first",
  builder: (y) =>
    y
      .option("stack", { type: "string", demandOption: true, describe: "The stack", requiresArg: true })
      .option("limit", wholeNumberOption("limit", { min: 1, example: 50, default: 20, describe: "How many updates" }))
      .option("json", { type: "boolean", describe: "Print JSON instead of a table" }) as never,
  handler: async (a) => {
    const [{ createContext }, { history, renderHistoryTable }] = await Promise.all([
      import("../services/context"),
      import("../flows/status"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const rows = await history(ctx, a.stack, a.limit);
    process.stdout.write((a.json ? JSON.stringify(rows, null, 2) : renderHistoryTable(rows)) + "\n");
  },
};
