/** One small logger. Everything goes to stderr so that stdout can carry JSON for machines. */
export type Level = "debug" | "info" | "warn" | "error";

const rank: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger whose lines are prefixed, e.g. with the stack name when several run at once. */
  child(prefix: string): Logger;
}

export function createLogger(
  level: Level,
  write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
  prefix = "",
): Logger {
  const emit = (at: Level, message: string) => {
    if (rank[at] < rank[level]) return;
    const tag = at === "warn" ? "warning: " : at === "error" ? "error: " : "";
    for (const line of message.split("\n")) write(`${prefix}${tag}${line}`);
  };
  return {
    debug: (m) => emit("debug", m),
    info: (m) => emit("info", m),
    warn: (m) => emit("warn", m),
    error: (m) => emit("error", m),
    child: (p) => createLogger(level, write, `${prefix}[${p}] `),
  };
}
