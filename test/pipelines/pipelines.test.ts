/**
 * The three shipped pipelines run the same commands: each of GitHub Actions' jobs, GitLab CI/CD's
 * jobs and the Jenkinsfile's stages is read from its file (YAML through the `yaml` package, the
 * Jenkinsfile's `sh` steps from its stage blocks) and compared. Jenkins cannot run here, so this
 * is its check; the other two are also executed (github.test.ts, gitlab.test.ts).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { APPLY_ENVIRONMENT } from "../../components/deployerRole";
import { ExitCode, type GitopsError } from "../../runner/errors";
import { resolveTarget } from "../../runner/forge/target";
import { createContext, DEMO_PASSPHRASE, LOCAL_DIR } from "../../runner/services/context";
import { git, PROJECT } from "../helpers/repo";

const read = (file: string) => fs.readFileSync(path.join(PROJECT, file), "utf8");

interface WorkflowStep {
  uses?: string;
  run?: string;
}
interface Workflow {
  on: Record<string, { branches?: string[] } | null>;
  permissions: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  jobs: Record<string, { environment?: string; steps: WorkflowStep[] }>;
}

/** The shell commands of each of a workflow's jobs, in order (`uses:` steps are not commands). */
function githubJobs(file: string): Record<string, string[]> {
  const wf = parse(read(file)) as Workflow;
  return Object.fromEntries(
    Object.entries(wf.jobs).map(([name, job]) => [name, job.steps.filter((s) => s.run !== undefined).map((s) => s.run!.trim())]),
  );
}

/** The shell commands of a workflow's one job. */
function githubCommands(file: string): string[] {
  const jobs = Object.values(githubJobs(file));
  assert.equal(jobs.length, 1, `${file} has one job`);
  return jobs[0];
}

function gitlabCommands(job: string): string[] {
  const ci = parse(read(".gitlab-ci.yml")) as Record<string, { script?: string[] }>;
  assert.ok(ci[job]?.script, `.gitlab-ci.yml has a job '${job}' with a script`);
  return ci[job].script!;
}

/**
 * The `sh` steps of each stage of the Jenkinsfile, in order. A stage's block is what lies between
 * its `stage('name')` and the next stage (or the end); steps are single-quoted Groovy strings.
 */
export function jenkinsStages(text: string): Record<string, string[]> {
  const code = text.replace(/^\s*\/\/.*$/gm, "");
  const starts = [...code.matchAll(/stage\('([^']+)'\)/g)];
  const stages: Record<string, string[]> = {};
  starts.forEach((m, i) => {
    const block = code.slice(m.index, starts[i + 1]?.index ?? code.length);
    stages[m[1]] = [...block.matchAll(/\bsh\s+'([^']*)'/g)].map((s) => s[1]);
  });
  return stages;
}

describe("the shipped pipelines", () => {
  const jenkins = jenkinsStages(read("Jenkinsfile"));

  it("run the same commands to preview a change request in all three, GitHub's spread over a job per stack", () => {
    const one = ["npm ci --no-audit --no-fund", "npm run --silent ci:preview"];
    assert.deepEqual(gitlabCommands("preview"), one);
    assert.deepEqual(jenkins.preview, one);
    assert.deepEqual(githubJobs(".github/workflows/preview.yml"), {
      affected: ["npm ci --no-audit --no-fund", 'stacks=$(npm run --silent ci:affected)\necho "stacks=$stacks" >> "$GITHUB_OUTPUT"'],
      preview: ["npm ci --no-audit --no-fund", "npm run --silent ci:preview-stack"],
      report: ["npm ci --no-audit --no-fund", "npm run --silent ci:report"],
    });
  });

  it("run the same commands to apply main in all three", () => {
    const github = githubCommands(".github/workflows/apply.yml");
    assert.deepEqual(github, ["npm ci --no-audit --no-fund", "npm run --silent ci:apply"]);
    assert.deepEqual(gitlabCommands("apply"), github);
    assert.deepEqual(jenkins.apply, github);
  });

  it("run the same commands to check drift on a schedule in all three", () => {
    const github = githubCommands(".github/workflows/drift.yml");
    assert.deepEqual(github, ["npm ci --no-audit --no-fund", "npm run --silent ci:drift"]);
    assert.deepEqual(gitlabCommands("drift"), github);
    assert.deepEqual(jenkins.drift, github);
  });

  it("have no other Jenkins stage, and name scripts package.json has", () => {
    assert.deepEqual(Object.keys(jenkins), ["preview", "apply", "drift"]);
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts["ci:preview"], /node bin\/gitops preview --comment --status$/);
    // ci:preview in three steps: the same stacks, previewed one per job, merged into the same comment and status.
    assert.match(scripts["ci:affected"], /node bin\/gitops affected --json$/);
    assert.match(scripts["ci:preview-stack"], /node bin\/gitops preview --stack "\$GITOPS_STACK" --json preview-result\.json$/);
    assert.match(scripts["ci:report"], /node bin\/gitops report preview-results --affected "\$GITOPS_AFFECTED" --comment --status$/);
    assert.match(scripts["ci:apply"], /node bin\/gitops apply --status --comment$/);
    // The report goes to the job summary on GitHub, to a file the other two keep as an artifact.
    assert.match(scripts["ci:drift"], /node bin\/gitops drift --report "\$\{GITHUB_STEP_SUMMARY:-drift-report\.md\}"$/);
  });

  it("check drift only on a schedule of main, never applying then", () => {
    const drift = parse(read(".github/workflows/drift.yml")) as Workflow;
    assert.deepEqual(Object.keys(drift.on).sort(), ["schedule", "workflow_dispatch"]);
    assert.deepEqual(drift.permissions, { contents: "read", "id-token": "write" });
    const gitlab = parse(read(".gitlab-ci.yml")) as Record<string, { rules?: { if: string }[]; artifacts?: { paths: string[] } }>;
    assert.deepEqual(gitlab.drift.rules, [{ if: '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == "main"' }]);
    assert.deepEqual(gitlab.drift.artifacts?.paths, ["drift-report.md"]);
    for (const job of ["preview", "apply"]) assert.ok(!gitlab[job].rules!.some((r) => r.if.includes("schedule")), job);
    const text = read("Jenkinsfile");
    assert.match(text, /stage\('apply'\)\s*\{\s*when\s*\{[^}]*not \{ triggeredBy 'TimerTrigger' \}/);
    assert.match(text, /stage\('drift'\)\s*\{\s*when\s*\{\s*branch 'main'\s*triggeredBy 'TimerTrigger'\s*\}/);
  });

  it("preview pull requests into main and apply pushes to main, one apply at a time", () => {
    const preview = parse(read(".github/workflows/preview.yml")) as Workflow;
    const apply = parse(read(".github/workflows/apply.yml")) as Workflow;
    assert.deepEqual(preview.on, { pull_request: { branches: ["main"] } });
    assert.deepEqual(apply.on, { push: { branches: ["main"] } });
    assert.deepEqual(preview.permissions, { contents: "read", "pull-requests": "write", statuses: "write", "id-token": "write" });
    assert.deepEqual(apply.permissions, { contents: "read", "pull-requests": "write", statuses: "write", "id-token": "write" });
    assert.equal(apply.concurrency?.["cancel-in-progress"], false);
    // The apply job's OIDC subject is its environment's, the one the DeployerRole's apply role trusts by default.
    assert.equal(apply.jobs.apply.environment, APPLY_ENVIRONMENT);
    assert.equal(preview.jobs.preview.environment, undefined);
    const gitlab = parse(read(".gitlab-ci.yml")) as Record<string, { resource_group?: string }>;
    assert.ok(gitlab.apply.resource_group);
    assert.match(read("Jenkinsfile"), /stage\('apply'\)[\s\S]*lock\('pulumi-gitops-apply'\)/);
  });
});

describe("jenkinsStages", () => {
  it("reads each stage's sh steps and ignores commented-out ones", () => {
    const text = `pipeline {\n  stages {\n    stage('a') {\n      steps {\n        // sh 'not this'\n        sh 'one'\n        sh  'two --x'\n      }\n    }\n    stage('b') { steps { lock('l') { sh 'three' } } }\n  }\n}\n`;
    assert.deepEqual(jenkinsStages(text), { a: ["one", "two --x"], b: ["three"] });
  });
});

describe("the forge target in a Jenkins build", () => {
  // What the Jenkinsfile's job gets: the forge's API and repository from the job's environment
  // (README), the token from a credential, and what Jenkins sets for a change request's build.
  const jenkinsEnv = {
    GITHUB_API_URL: "https://github.example.invalid/api/v3",
    GITHUB_REPOSITORY: "acme/infra",
    GITOPS_FORGE_TOKEN: "t",
    CHANGE_ID: "12",
    BUILD_URL: "https://jenkins.example.invalid/job/infra/job/PR-12/3/",
  };

  it("takes the pull request from CHANGE_ID and links the build", () => {
    const t = resolveTarget({}, jenkinsEnv, { needPr: true });
    assert.deepEqual(
      { kind: t.kind, pr: t.pr, repo: t.repo, targetUrl: t.targetUrl },
      { kind: "github", pr: 12, repo: "acme/infra", targetUrl: jenkinsEnv.BUILD_URL },
    );
  });

  it("still refuses to comment on a branch build, which has no CHANGE_ID", () => {
    const { CHANGE_ID: _, ...branchBuild } = jenkinsEnv;
    assert.throws(
      () => resolveTarget({}, branchBuild, { needPr: true }),
      (e: GitopsError) => e.exitCode === ExitCode.usage && /no pull request to comment on/.test(e.message),
    );
  });
});

describe("variables a pipeline passes empty", () => {
  it("count as unset: an unset PULUMI_BACKEND_URL or passphrase secret is '' in a GitHub job", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-ctx-"));
    try {
      git(dir, "init", "-q");
      const ctx = await createContext({}, { PULUMI_BACKEND_URL: "", PULUMI_CONFIG_PASSPHRASE: "", PULUMI_CONFIG_PASSPHRASE_FILE: "" }, dir);
      assert.equal(ctx.engine.backendUrl, `file://${path.join(fs.realpathSync(dir), LOCAL_DIR, "state")}`);
      assert.equal(ctx.engine.passphrase, DEMO_PASSPHRASE);
      assert.equal(ctx.engine.passphraseFile, undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
