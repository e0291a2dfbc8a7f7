/**
 * GitHub, GitHub Enterprise and Gitea, through @octokit/rest. Gitea's API (under /api/v1) has the
 * same routes, bodies and token header as GitHub's for what this needs: issue comments (list,
 * create, edit) and commit statuses, so one client serves both; only the size limit differs.
 * Gitea v1.26.0 answers a comment listing with every comment at once (no Link header), which
 * octokit's paginate takes as the last page; GitHub pages by Link headers, which it follows.
 */
import type { Octokit } from "@octokit/rest";
import { ForgeError, timedFetch, type Forge } from "./forge";
import type { ForgeTarget } from "./target";

/** GitHub's documented maximum body of an issue comment. */
export const GITHUB_MAX_COMMENT = 65_536;
/**
 * Gitea sets no limit (comments are LONGTEXT, and its API accepted a 1,000,000-character body):
 * the budget is GitLab's, so a report is cut at the same size on both self-hosted forges.
 */
export const GITEA_MAX_COMMENT = 1_000_000;

/** GitHub cuts a status description at 140 characters. */
const MAX_DESCRIPTION = 140;

/** Runs one API call; what goes wrong becomes a ForgeError saying what was being done. */
async function call<T>(forge: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e as { status?: number; response?: { data?: unknown }; message?: string };
    // Octokit reports a request that got no answer (refused, timed out) with status 500 and no response.
    if (!err.response) throw new ForgeError(forge, what, undefined, err.message ?? String(e));
    const data = err.response.data as { message?: string } | string | undefined;
    const detail = typeof data === "object" && data?.message ? data.message : (err.message ?? "");
    throw new ForgeError(forge, what, err.status, detail);
  }
}

export function githubForge(t: ForgeTarget): Forge {
  const [owner, repo] = t.repo.split("/");
  // Loaded at the first call: a command that posts nothing does not pay for the SDK at start-up.
  let client: Promise<Octokit> | undefined;
  const connect = () =>
    (client ??= import("@octokit/rest").then(
      ({ Octokit }) =>
        new Octokit({
          auth: t.token,
          baseUrl: t.apiUrl,
          userAgent: "pulumi-gitops",
          request: { fetch: timedFetch },
          // Octokit logs request warnings to the console; the caller reports what went wrong.
          log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
        }),
    ));
  const name = t.kind === "gitea" ? "Gitea" : "GitHub";
  return {
    name,
    maxCommentChars: t.kind === "gitea" ? GITEA_MAX_COMMENT : GITHUB_MAX_COMMENT,
    listComments: (pr) =>
      call(name, `listing the comments of ${t.repo}#${pr}`, async () => {
        const octokit = await connect();
        const all = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: pr, per_page: 100 });
        return all.map((c) => ({ id: c.id, body: c.body ?? "" }));
      }),
    createComment: (pr, body) =>
      call(name, `commenting on ${t.repo}#${pr}`, async () => {
        const octokit = await connect();
        await octokit.rest.issues.createComment({ owner, repo, issue_number: pr, body });
      }),
    updateComment: (pr, id, body) =>
      call(name, `updating comment ${id} on ${t.repo}#${pr}`, async () => {
        const octokit = await connect();
        await octokit.rest.issues.updateComment({ owner, repo, comment_id: id, body });
      }),
    mergedPullRequest: (sha) =>
      call(name, `finding the pull request merged as ${sha.slice(0, 7)}`, async () => {
        const octokit = await connect();
        if (t.kind === "gitea") {
          // Gitea has no route listing a commit's pull requests; its own answers the one merged as it, 404 when none.
          const res = await octokit
            .request("GET /repos/{owner}/{repo}/commits/{sha}/pull", { owner, repo, sha })
            .catch((e: { status?: number }) => {
              if (e.status === 404) return undefined;
              throw e;
            });
          return (res?.data as { number?: number } | undefined)?.number;
        }
        const { data } = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: sha });
        return data.find((p) => p.merged_at && p.merge_commit_sha === sha)?.number;
      }),
    setStatus: (sha, s) =>
      call(name, `setting the status ${s.context} on ${sha.slice(0, 7)}`, async () => {
        const octokit = await connect();
        const description = s.description.length > MAX_DESCRIPTION ? s.description.slice(0, MAX_DESCRIPTION - 1) + "…" : s.description;
        await octokit.rest.repos.createCommitStatus({
          owner,
          repo,
          sha,
          state: s.state,
          context: s.context,
          description,
          target_url: s.targetUrl,
        });
      }),
  };
}
