/**
 * Where preview and apply report to: the forge, its API, the token, the repository, the pull request
 * and the commit. Detected from the CI environment (GitHub Actions and Gitea Actions, GitLab CI/CD;
 * Jenkins for the pull request and the build link);
 * every part can be given as a flag instead, which wins. The token only comes from the environment:
 * on a command line it would show in the process table and in CI logs.
 */
import * as fs from "node:fs";
import type { Argv } from "yargs";
import { wholeNumberOption } from "../commands/options";
import { usageError } from "../errors";

export const FORGES = ["github", "gitea", "gitlab"] as const;
export type ForgeKind = (typeof FORGES)[number];

export const FORGE_NAMES: Record<ForgeKind, string> = { github: "GitHub", gitea: "Gitea", gitlab: "GitLab" };

/** The token variables read for each forge, first set wins. */
export const TOKEN_VARS: Record<ForgeKind, string[]> = {
  github: ["GITOPS_FORGE_TOKEN", "GITHUB_TOKEN"],
  gitea: ["GITOPS_FORGE_TOKEN", "GITEA_TOKEN", "GITHUB_TOKEN"],
  gitlab: ["GITOPS_FORGE_TOKEN", "GITLAB_TOKEN"],
};

export interface ForgeArgs {
  forge?: ForgeKind;
  "forge-url"?: string;
  "forge-repo"?: string;
  pr?: number;
  sha?: string;
  "target-url"?: string;
}

export interface PreviewForgeArgs extends ForgeArgs {
  comment?: boolean;
  status?: boolean;
  "full-report-url"?: string;
  "comment-max-chars"?: number;
}

export interface ApplyForgeArgs extends ForgeArgs {
  status?: boolean;
  comment?: boolean;
}

/** The options that say where to report; shared by preview and apply. */
const withForgeTarget = <T>(y: Argv<T>) =>
  y
    .option("forge", { choices: FORGES, describe: "The forge to report to (default: detected from the CI environment)" })
    .option("forge-url", { type: "string", describe: "The forge's API URL (default: $GITHUB_API_URL, $CI_API_V4_URL)", requiresArg: true })
    .option("forge-repo", {
      type: "string",
      describe: "owner/name, or GitLab's project ID or path (default: $GITHUB_REPOSITORY, $CI_PROJECT_ID)",
      requiresArg: true,
    })
    .option("sha", {
      type: "string",
      describe: "The commit the status is set on (default: the pull request's head from the CI event, else HEAD)",
      requiresArg: true,
    })
    .option("target-url", { type: "string", describe: "The link of the commit status (default: the CI job's URL)", requiresArg: true });

export const withPreviewForge = <T>(y: Argv<T>) =>
  withForgeTarget(y)
    .option("comment", {
      type: "boolean",
      describe: "Post the report as the pull request's one pulumi-gitops comment, updated on every push",
    })
    .option("status", { type: "boolean", describe: "Set the commit status pulumi-gitops/preview on the pull request's head" })
    .option(
      "pr",
      wholeNumberOption("pr", {
        min: 1,
        example: 42,
        describe: "The pull (merge) request number (default: from $GITHUB_EVENT_PATH, $CI_MERGE_REQUEST_IID, Jenkins' $CHANGE_ID)",
      }),
    )
    .option("full-report-url", {
      type: "string",
      describe: "Where the full report is (a job artifact), linked when the comment has to be cut",
      requiresArg: true,
    })
    .option(
      "comment-max-chars",
      wholeNumberOption("comment-max-chars", {
        min: 1000,
        example: 60000,
        describe: "The comment's size budget in characters (default: the forge's limit: GitHub 65,536, GitLab and Gitea 1,000,000)",
      }),
    );

export const withApplyForge = <T>(y: Argv<T>) =>
  withForgeTarget(y)
    .option("status", { type: "boolean", describe: "Set the commit status pulumi-gitops/apply on the deployed commit" })
    .option("comment", {
      type: "boolean",
      describe: "Leave a note on the pull request merged as the deployed commit: what was applied to which stack, or what failed",
    });

export interface ForgeTarget {
  kind: ForgeKind;
  apiUrl: string;
  token: string;
  /** owner/name (GitHub, Gitea) or a GitLab project ID or path. */
  repo: string;
  /** The pull request, when one is needed (comments). */
  pr?: number;
  /** The commit for the status; undefined: the commit the command ran on. */
  sha?: string;
  targetUrl?: string;
}

/** The CI event payload GitHub and Gitea Actions write to $GITHUB_EVENT_PATH, when there is one. */
function ciEvent(env: NodeJS.ProcessEnv): { pull_request?: { number?: number; head?: { sha?: string } } } {
  if (!env.GITHUB_EVENT_PATH) return {};
  try {
    return JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, "utf8"));
  } catch {
    return {};
  }
}

function detectKind(env: NodeJS.ProcessEnv): ForgeKind | undefined {
  if (env.GITLAB_CI === "true" || env.CI_API_V4_URL) return "gitlab";
  if (env.GITEA_ACTIONS === "true") return "gitea";
  if (env.GITHUB_ACTIONS === "true" || env.GITHUB_API_URL) return "github";
  return undefined;
}

const positive = (n: unknown) => (typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined);

/**
 * The target for `a`, or a usage error (exit 64) naming what is missing and how to give it. Called
 * before any work, so a pipeline that cannot post finds out before it previews or deploys.
 */
export function resolveTarget(a: ForgeArgs, env: NodeJS.ProcessEnv, o: { needPr: boolean }): ForgeTarget {
  const kind = a.forge ?? detectKind(env);
  if (!kind) {
    throw usageError(
      "cannot tell which forge to report to: no CI environment detected",
      `pass --forge ${FORGES.join("|")} with --forge-url and --forge-repo`,
    );
  }
  const name = FORGE_NAMES[kind];
  const gitlab = kind === "gitlab";
  const apiUrl =
    a["forge-url"] ?? (gitlab ? env.CI_API_V4_URL : (env.GITHUB_API_URL ?? (kind === "github" ? "https://api.github.com" : undefined)));
  if (!apiUrl) throw usageError(`no API URL for ${name}`, `pass --forge-url (for Gitea: https://<host>/api/v1)`);
  const repo = a["forge-repo"] ?? (gitlab ? env.CI_PROJECT_ID : env.GITHUB_REPOSITORY);
  if (!repo)
    throw usageError(`no repository to report to on ${name}`, `pass --forge-repo ${gitlab ? "<project ID or path>" : "<owner>/<name>"}`);
  if (!gitlab && !/^[^/\s]+\/[^/\s]+$/.test(repo))
    throw usageError(`--forge-repo '${repo}' is not <owner>/<name>`, "for example --forge-repo acme/infra");
  const tokenVar = TOKEN_VARS[kind].find((v) => env[v]);
  if (!tokenVar) {
    throw usageError(
      `no token to post to ${name}: none of ${TOKEN_VARS[kind].map((v) => "$" + v).join(", ")} is set`,
      gitlab
        ? "set GITLAB_TOKEN to a project access token with the api scope (Developer role) as a masked CI/CD variable"
        : `set ${TOKEN_VARS[kind][1]} to a token that may write ${kind === "github" ? "pull requests and statuses (permissions: pull-requests: write, statuses: write)" : "issues and repository statuses"}`,
    );
  }
  const event = ciEvent(env);
  // Jenkins (multibranch) names a build's change request CHANGE_ID and the build BUILD_URL.
  const pr =
    a.pr ?? (gitlab ? positive(Number(env.CI_MERGE_REQUEST_IID)) : positive(event.pull_request?.number)) ?? positive(Number(env.CHANGE_ID));
  if (o.needPr && !pr) {
    throw usageError(
      `no pull request to comment on`,
      gitlab
        ? "run the job in a merge request pipeline (rules: if: $CI_PIPELINE_SOURCE == 'merge_request_event'), or pass --pr <merge request IID>"
        : "run the job on a pull_request event, or pass --pr <number>",
    );
  }
  const sha = a.sha ?? (gitlab ? env.CI_MERGE_REQUEST_SOURCE_BRANCH_SHA || undefined : event.pull_request?.head?.sha);
  const runUrl =
    env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : undefined;
  const targetUrl = a["target-url"] ?? (gitlab ? env.CI_JOB_URL : runUrl) ?? env.BUILD_URL;
  return { kind, apiUrl: apiUrl.replace(/\/+$/, ""), token: env[tokenVar]!, repo, pr, sha, targetUrl };
}
