/**
 * Reading a commit's files: one git process for all of them, whatever their size or encoding, on
 * real git repositories; and the program's import graph read that way.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { GitopsError } from "../../runner/errors";
import { programFiles, programFilesAmong } from "../../runner/services/changes";
import { fileReader } from "../../runner/services/git";
import { createRepo, git, loggingGit, type TestRepo } from "../helpers/repo";

/** Puts a logging git (loggingGit) first on this process's PATH. */
function countGitRuns(): { runs: () => string[]; restore: () => void } {
  const logging = loggingGit();
  const saved = process.env.PATH;
  process.env.PATH = `${logging.dir}${path.delimiter}${saved}`;
  return {
    runs: logging.runs,
    restore: () => {
      process.env.PATH = saved;
      logging.remove();
    },
  };
}

describe("fileReader: a commit's files through one git process", () => {
  let dir: string;
  let commit: string;
  // Multibyte UTF-8 (2, 3 and 4 bytes a character): byte counts differ from character counts.
  const utf8 = "grüße € 😀\n";
  // Several pipe chunks long, so an object arrives in pieces and the next one starts mid-chunk.
  const large = "ü€😀 ".repeat(100_000);
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-files-"));
    git(dir, "init", "-q");
    fs.writeFileSync(path.join(dir, "empty.txt"), "");
    fs.writeFileSync(path.join(dir, "utf8.txt"), utf8);
    fs.writeFileSync(path.join(dir, "large.txt"), large);
    fs.mkdirSync(path.join(dir, "a dir"));
    fs.writeFileSync(path.join(dir, "a dir", "with spaces.ts"), "export {};\n");
    git(dir, "add", "-A");
    git(dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "files");
    commit = git(dir, "rev-parse", "HEAD");
    // The working tree differs from the commit: what is read is the commit's.
    fs.writeFileSync(path.join(dir, "utf8.txt"), "changed since\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads each file as the commit has it, byte for byte, and a missing one as undefined", async () => {
    const git = countGitRuns();
    try {
      const reader = fileReader(dir, commit);
      // Asked all at once: answers must not swap, the large one's bytes must not run into the next.
      const texts = await Promise.all(
        ["utf8.txt", "missing.txt", "large.txt", "empty.txt", "a dir/with spaces.ts", "a dir", "utf8.txt"].map((f) => reader.read(f)),
      );
      await reader.close();
      assert.deepEqual(texts, [utf8, undefined, large, "", "export {};\n", undefined, utf8]);
      assert.deepEqual(git.runs(), ["cat-file --batch"]);
    } finally {
      git.restore();
    }
  });

  it("a commit that does not exist reads as missing files, and a read after close fails", async () => {
    const reader = fileReader(dir, "0".repeat(40));
    assert.equal(await reader.read("utf8.txt"), undefined);
    await reader.close();
    await assert.rejects(reader.read("utf8.txt"), /git cat-file --batch .* ended/);
  });
});

describe("programFiles: the program's import graph", () => {
  let repo: TestRepo;
  before(() => {
    repo = createRepo(["dev"]);
  });
  after(() => repo.remove());

  it("reads the program's files with two git processes, however many files it imports", async () => {
    const git = countGitRuns();
    try {
      const files = await programFiles(repo.dir, "HEAD");
      for (const f of ["index.ts", "program.ts", "config/schema.ts", "components/webService.ts", "package-lock.json"])
        assert.ok(files.has(f), `${f} is part of the program`);
      assert.ok(!files.has("runner/cli.ts"), "the runner is not");
      assert.deepEqual(
        git.runs().map((r) => r.split(" ").slice(0, 2).join(" ")),
        ["ls-tree -r", "cat-file --batch"],
      );
    } finally {
      git.restore();
    }
  });

  it("is read to choose stacks only when a changed path can be one of its files", async () => {
    const files = await programFiles(repo.dir, "HEAD");
    let reads = 0;
    const read = async () => {
      reads++;
      return files;
    };
    // Every file of this repository's real graph, alone, makes the graph be read: none is missed.
    for (const f of files) {
      reads = 0;
      assert.equal(await programFilesAmong([f], read), files, f);
      assert.equal(reads, 1, f);
    }
    // Stack files, the rules and documents cannot be among them: the stacks are chosen without it.
    reads = 0;
    const none = await programFilesAmong(["stacks/Pulumi.dev.yaml", "stacks/gitops.yaml", "README.md", "docs/agent.png"], read);
    assert.deepEqual([...none], []);
    assert.equal(reads, 0);
  });

  it("fails, naming the file, when git cannot read a file of the program (a clone missing objects)", async () => {
    const blob = repo.git("rev-parse", "HEAD:components/webService.ts");
    fs.rmSync(path.join(repo.dir, ".git", "objects", blob.slice(0, 2), blob.slice(2)));
    await assert.rejects(programFiles(repo.dir, "HEAD"), (err: Error) => {
      assert.ok(err instanceof GitopsError, String(err));
      assert.match(err.message, /^components\/webService\.ts is in commit HEAD but git cannot read it in /);
      assert.match(err.hint, /git fsck/);
      return true;
    });
  });
});
