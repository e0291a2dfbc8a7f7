/**
 * The one backoff schedule of the runner: the lock wait and the agent's retries of a failed commit
 * and fetch. A function, not a retry library: the agent's retry is a schedule between syncs (reset
 * by a new commit, shown in /status), not a loop around one call.
 */

/** The wait before attempt `attempt + 1`: base, 2×base, 4×base ... up to cap. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
