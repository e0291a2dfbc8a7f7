/**
 * The duration syntax of the agent's flags (`--interval 15m`) and of the GitOpsAgent component's
 * arguments, which become those flags: one grammar, so the component accepts exactly what the agent does.
 */
const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as text: what {@link durationMs} reads, for schemas. */
export const DURATION = /^\s*(\d+(\.\d+)?(ms|s|m|h)?)+\s*$/;

/** "90", "90s", "250ms", "15m", "1h30m" → milliseconds (a bare number is seconds); undefined if `text` is not a duration. */
export function durationMs(text: string): number | undefined {
  const t = text.trim();
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)?/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== t) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * MS_PER_UNIT[p[2] ?? "s"], 0);
}
