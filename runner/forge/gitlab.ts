/**
 * GitLab, through @gitbeaker/rest: merge request notes (GET/POST/PUT
 * /projects/:id/merge_requests/:iid/notes, every page) and commit statuses (POST
 * /projects/:id/statuses/:sha, whose states are GitLab's own).
 */
import type { Gitlab } from "@gitbeaker/rest";
import { ForgeError, REQUEST_TIMEOUT_MS, type Forge, type StatusState } from "./forge";
import type { ForgeTarget } from "./target";

/** GitLab's documented maximum note length. */
export const GITLAB_MAX_COMMENT = 1_000_000;

/** GitLab has no "error" state; a refused apply is a failed one there. */
const STATE: Record<StatusState, "success" | "failed"> = { success: "success", failure: "failed", error: "failed" };

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const cause = (e as { cause?: { description?: string; response?: Response } }).cause;
    if (!cause?.response) throw new ForgeError("GitLab", what, undefined, (e as Error).message ?? String(e));
    throw new ForgeError("GitLab", what, cause.response.status, cause.description || cause.response.statusText);
  }
}

export function gitlabForge(t: ForgeTarget): Forge {
  // gitbeaker adds /api/v4 to the host itself; CI_API_V4_URL already ends with it.
  const host = t.apiUrl.replace(/\/api\/v4$/, "");
  // Loaded at the first call: a command that posts nothing does not pay for the SDK at start-up.
  let client: Promise<InstanceType<typeof Gitlab>> | undefined;
  const connect = () =>
    (client ??= import("@gitbeaker/rest").then(({ Gitlab }) => new Gitlab({ host, token: t.token, queryTimeout: REQUEST_TIMEOUT_MS })));
  const project = t.repo;
  return {
    name: "GitLab",
    maxCommentChars: GITLAB_MAX_COMMENT,
    listComments: (mr) =>
      call(`listing the notes of merge request !${mr} of ${project}`, async () => {
        const api = await connect();
        const notes = await api.MergeRequestNotes.all(project, mr, { sort: "asc", orderBy: "created_at", perPage: 100 });
        return notes.map((n) => ({ id: n.id, body: n.body ?? "" }));
      }),
    createComment: (mr, body) =>
      call(`commenting on merge request !${mr} of ${project}`, async () => {
        const api = await connect();
        await api.MergeRequestNotes.create(project, mr, body);
      }),
    updateComment: (mr, id, body) =>
      call(`updating note ${id} on merge request !${mr} of ${project}`, async () => {
        const api = await connect();
        await api.MergeRequestNotes.edit(project, mr, id, { body });
      }),
    mergedPullRequest: (sha) =>
      call(`finding the merge request merged as ${sha.slice(0, 7)}`, async () => {
        const api = await connect();
        const mrs = await api.Commits.allMergeRequests(project, sha);
        return mrs.find((m) => m.state === "merged")?.iid;
      }),
    setStatus: (sha, s) =>
      call(`setting the status ${s.context} on ${sha.slice(0, 7)}`, async () => {
        const api = await connect();
        await api.Commits.editStatus(project, sha, STATE[s.state], { name: s.context, description: s.description, targetUrl: s.targetUrl });
      }),
  };
}
