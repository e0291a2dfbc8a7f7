/**
 * SIGINT/SIGTERM, handled one way by every command and by the agent: the first signal stops the
 * work gracefully (the caller says how), a second one exits at once.
 */
import * as os from "node:os";
import type { Logger } from "../log";

/**
 * Calls `onFirst` on the first SIGINT or SIGTERM; a second one exits at once, with the status of a
 * process killed by it. Persistent listeners, not `once`: execa's signal-exit re-raises a signal
 * that no other listener handles, which would kill the process while the engine is still winding down.
 */
export function onStopSignal(onFirst: (sig: NodeJS.Signals) => void): void {
  let received = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) process.exit(128 + os.constants.signals[sig]);
    received = true;
    onFirst(sig);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
}

/** Aborted by the first stop signal: the flows check it before every engine call and between stacks. */
export function abortOnSignals(log: Logger, what: string): AbortSignal {
  const controller = new AbortController();
  onStopSignal((sig) => {
    log.warn(`${sig}: stopping gracefully (${what}); send it again to exit at once`);
    controller.abort(sig);
  });
  return controller.signal;
}
