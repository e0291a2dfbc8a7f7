/**
 * How much the runner adds to the engine: a one-stack `gitops preview` against a raw
 * `pulumi preview` of the same stack, and `gitops rollback --to previous` against a plain
 * `gitops apply` of the same change. Prints medians; run with `node --import tsx bench/runner-overhead.ts [runs]`.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { gitops } from "../test/helpers/cli";
import { ENGINE_DIR, pulumiEnv } from "../test/helpers/pulumi";
import { createRepo } from "../test/helpers/repo";

const runs = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const repo = createRepo(["dev"]);
  try {
    const ok = async (...args: string[]) => {
      const r = await gitops(repo.dir, ...args);
      if (r.code !== 0) throw new Error(`gitops ${args.join(" ")} failed:\n${r.stderr}`);
    };
    await ok("apply");
    const raw = () =>
      execFileSync(path.join(ENGINE_DIR, "bin", "pulumi"), ["preview", "--stack", "dev", "--non-interactive"], {
        cwd: repo.dir,
        env: pulumiEnv(repo.dir),
        stdio: "ignore",
      });
    const tRaw: number[] = [];
    const tRunner: number[] = [];
    for (let i = 0; i < runs; i++) {
      tRaw.push(await time(raw));
      tRunner.push(await time(() => ok("preview", "--stack", "dev")));
    }
    const tApply: number[] = [];
    const tRollback: number[] = [];
    for (let i = 0; i < runs; i++) {
      repo.write("stacks/Pulumi.dev.yaml", repo.read("stacks/Pulumi.dev.yaml").replace(/replicas: \d+/, `replicas: ${i + 2}`));
      repo.commit(`replicas ${i + 2}`);
      repo.git("push", "-q", "origin", "main");
      await ok("unpin", "--stack", "dev");
      tApply.push(await time(() => ok("apply")));
      tRollback.push(await time(() => ok("rollback", "--stack", "dev", "--to", "previous", "--yes")));
    }
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)}s`;
    console.log(`runs: ${runs}`);
    console.log(`pulumi preview (raw)       median ${fmt(median(tRaw))}`);
    console.log(`gitops preview --stack dev median ${fmt(median(tRunner))}  (+${fmt(median(tRunner) - median(tRaw))})`);
    console.log(`gitops apply               median ${fmt(median(tApply))}`);
    console.log(`gitops rollback --to prev  median ${fmt(median(tRollback))}  (+${fmt(median(tRollback) - median(tApply))})`);
  } finally {
    repo.remove();
  }
}

void main();
