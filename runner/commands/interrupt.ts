/**
 * SIGINT/SIGTERM: start nothing more (the flows check the signal before every engine call and
 * between stacks), stop a running engine gracefully; a second signal exits at once.
 */
import type { Logger } from "../log";

export function abortOnSignals(log: Logger, what: string): AbortSignal {
  const controller = new AbortController();
  // A persistent listener, not `once`: execa's signal-exit re-raises a signal that no other
  // listener handles, which would kill the runner while the engine is still winding down.
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    log.warn(`${sig}: stopping gracefully (${what}); send it again to exit at once`);
    controller.abort(sig);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  return controller.signal;
}
