/** Shared by the promotion tests (stacks/gitops.yaml `stages`): the rules they commit and apply's results as JSON. */
import type { CliResult } from "./cli";
import type { TestRepo } from "./repo";

/** A stack's entry in `apply --json -`. */
export interface StackRun {
  stack: string;
  status: string;
  commit?: string;
  reason?: string;
  error?: string;
  gate?: { candidate?: string; soakUntil?: string; reason: string };
}

/** Each stack's entry of `apply --json -`'s output, by stack. */
export function applyResults(r: CliResult): Map<string, StackRun> {
  return new Map((JSON.parse(r.stdout || '{"stacks":[]}').stacks as StackRun[]).map((x) => [x.stack, x]));
}

/**
 * `base` (the rules without stages) with staging's HTTP check at `url` and prod promoted from
 * staging after `soak`. A test that needs prod to wait, whatever the machine's speed, soaks for an
 * hour; a later commit that shortens it (1s) and affects no stack ends the soak of what staging runs
 * at once: no test waits for the clock.
 */
export function stagesRules(base: string, url: string, onFailure: "keep" | "rollback", soak: string): string {
  return `${base}stages:
  staging:
    onFailure: ${onFailure}
    checks:
      - name: health
        http: { url: "${url}", status: 200 }
        timeout: 5s
  prod:
    from: staging
    soak: ${soak}
`;
}

/** Commits new rules (which affect no stack) and pushes them. */
export function setRules(repo: TestRepo, text: string, message: string): string {
  repo.write("stacks/gitops.yaml", text);
  const c = repo.commit(message);
  repo.git("push", "-q", "origin", "main");
  return c;
}
