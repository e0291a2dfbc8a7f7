/** What preview and apply need from a forge: the pull request's comments and commit statuses. */
import { GitopsError } from "../errors";

export interface Comment {
  id: number;
  body: string;
}

export type StatusState = "success" | "failure" | "error";

export interface CommitStatus {
  state: StatusState;
  /** The check's name, e.g. pulumi-gitops/preview; branch protection requires it by this name. */
  context: string;
  description: string;
  targetUrl?: string;
}

export interface Forge {
  /** "GitHub", "Gitea", "GitLab": for messages. */
  name: string;
  /** The most characters a comment may have on this forge. */
  maxCommentChars: number;
  /** Every comment of the pull request, all pages, oldest first. */
  listComments(pr: number): Promise<Comment[]>;
  createComment(pr: number, body: string): Promise<void>;
  updateComment(pr: number, id: number, body: string): Promise<void>;
  setStatus(sha: string, status: CommitStatus): Promise<void>;
  /** The pull request merged as commit `sha` (its merge, squash or fast-forwarded head), if any. */
  mergedPullRequest(sha: string): Promise<number | undefined>;
}

/** Requests to a forge give up after this long, so a forge that never answers cannot hold a pipeline. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A fetch that gives up after REQUEST_TIMEOUT_MS, for the API clients. */
export const timedFetch: typeof fetch = (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

/**
 * A forge refused a request or could not be reached. `status` is the HTTP status, undefined when no
 * answer came; the hint says what usually causes it.
 */
export class ForgeError extends GitopsError {
  constructor(
    forge: string,
    what: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`${forge} ${status === undefined ? "could not be reached" : `answered ${status}`} to ${what}: ${detail}`, hintFor(forge, status));
    this.name = "ForgeError";
  }
}

function hintFor(forge: string, status: number | undefined): string {
  if (status === undefined) return "check --forge-url (Gitea: https://<host>/api/v1) and that this runner can reach it";
  if (status === 401) return `the token was not accepted by ${forge}: it is missing, expired or revoked`;
  if (status === 403)
    return `the token may not do this: it needs write access to pull request comments and commit statuses (see README, Pull requests and pipelines)`;
  if (status === 404) return "check --forge-repo and --pr, and that the token can see the repository";
  if (status === 422 || status === 400) return `${forge} rejected the request's content; run again with --debug and report it`;
  return `${forge} had a problem of its own; run the job again`;
}
