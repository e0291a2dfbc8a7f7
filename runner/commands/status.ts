import type { CommandModule } from "yargs";
import type { GlobalOptions } from "../services/context";
import { withStacks } from "./options";

interface Args extends GlobalOptions {
  stack?: string[];
  json?: boolean;
}

export const statusCommand: CommandModule<GlobalOptions, Args> = {
  command: "status",
  describe: "Show what commit every stack runs, whether it is pinned, how far behind main it is and its last result",
  builder: (y) => withStacks(y).option("json", { type: "boolean", describe: "Print JSON instead of a table" }) as never,
  handler: async (a) => {
    const [{ createContext }, { renderStatusTable, status }] = await Promise.all([
      import("../services/context"),
      import("../flows/status"),
    ]);
    const ctx = await createContext(a, process.env, process.cwd());
    const rows = await status(ctx, a.stack);
    process.stdout.write((a.json ? JSON.stringify(rows, null, 2) : renderStatusTable(rows)) + "\n");
  },
};
