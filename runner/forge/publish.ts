/**
 * Posting results to the forge: preview's one comment per pull request and its commit status, and
 * apply's status on the deployed commit. A forge that fails is reported on stderr beside the
 * command's own result and never changes its exit code: the pipeline shows what the engine found.
 */
import type { StackResult } from "../services/workspace";
import { hasChanges } from "../services/workspace";
import { formatError, GitopsError } from "../errors";
import { fence, inline, renderMarkdown } from "../services/report";
import { headCommit } from "../services/git";
import { projectName } from "../services/stacks";
import { ForgeError, type CommitStatus, type Forge } from "./forge";
import { githubForge } from "./github";
import { gitlabForge } from "./gitlab";
import { resolveTarget, type ApplyForgeArgs, type ForgeTarget, type PreviewForgeArgs } from "./target";

export const PREVIEW_CONTEXT = "pulumi-gitops/preview";
export const APPLY_CONTEXT = "pulumi-gitops/apply";

export function openForge(t: ForgeTarget): Forge {
  return t.kind === "gitlab" ? gitlabForge(t) : githubForge(t);
}

/**
 * The hidden first line of this project's comment. Several Pulumi projects in one repository keep
 * a comment each; anything else on the pull request is left alone.
 */
export function commentMarker(project: string): string {
  return `<!-- pulumi-gitops preview: ${project} -->`;
}

export interface PreviewPosting {
  target: ForgeTarget;
  forge: Forge;
  comment: boolean;
  status: boolean;
  marker: string;
  maxChars: number;
  fullReportUrl?: string;
}

/**
 * What `preview --comment/--status` will post, checked before the preview runs (a usage error, exit
 * 64, when the token, the pull request or the repository is missing); undefined when neither is asked.
 */
export function previewPosting(a: PreviewForgeArgs, env: NodeJS.ProcessEnv, repoDir: string): PreviewPosting | undefined {
  if (!a.comment && !a.status) return undefined;
  const max = a["comment-max-chars"];
  const target = resolveTarget(a, env, { needPr: !!a.comment });
  const forge = openForge(target);
  return {
    target,
    forge,
    comment: !!a.comment,
    status: !!a.status,
    marker: commentMarker(projectName(repoDir) ?? "default"),
    maxChars: Math.min(max ?? forge.maxCommentChars, forge.maxCommentChars),
    fullReportUrl: a["full-report-url"],
  };
}

export interface PreviewPost {
  commit: string;
  results: StackResult[];
  unaffected: string[];
}

/** The comment for a preview: the marker, then the report within the forge's budget. */
export function previewComment(p: Pick<PreviewPosting, "marker" | "maxChars" | "fullReportUrl">, out: PreviewPost): string {
  const head = p.marker + "\n";
  if (!out.results.length) {
    const none = out.unaffected.length ? ` (${out.unaffected.join(", ")})` : "";
    return `${head}## Pulumi preview at \`${out.commit.slice(0, 7)}\`\n\nThis push affects no stack${none}: nothing to preview, nothing to apply on merge.\n`;
  }
  const tail = fingerprintsComment(out.results, p.maxChars / 4);
  const report = renderMarkdown(
    out.results,
    { title: "Pulumi preview", commit: out.commit, unaffected: out.unaffected, fullReportUrl: p.fullReportUrl },
    p.maxChars - head.length - tail.length,
  );
  return head + report + tail;
}

/** Starts the hidden line with each previewed stack's fingerprint (see reviews.ts). */
export const FINGERPRINTS_MARKER = "<!-- pulumi-gitops fingerprints: ";

/**
 * The stacks' fingerprints, hidden, as one line of JSON for machines: whole when they fit in
 * `room` characters, else each one's id and inputs' digest. No `>` can close the comment early.
 */
export function fingerprintsComment(results: StackResult[], room: number): string {
  const prints = results.flatMap((r) => r.fingerprint ?? []);
  if (!prints.length) return "";
  const line = (v: unknown) => `\n${FINGERPRINTS_MARKER}${JSON.stringify(v).replace(/>/g, "\\u003e")} -->\n`;
  const whole = line(prints);
  return whole.length <= room ? whole : line(prints.map(({ stack, id, inputsDigest, commit }) => ({ stack, id, inputsDigest, commit })));
}

const stackList = (rs: StackResult[]) => rs.map((r) => r.stack).join(", ");
const stacksWord = (n: number) => `${n} stack${n === 1 ? "" : "s"}`;

/** The policies a status names: the mandatory ones violated, else the advisory ones, each once. */
function policyNames(rs: StackResult[], level: "mandatory" | "advisory"): string[] {
  return [...new Set(rs.flatMap((r) => (r.policies ?? []).filter((v) => v.level === level).map((v) => v.policy)))];
}

export function previewStatus(out: PreviewPost, targetUrl: string | undefined): CommitStatus {
  const failed = out.results.filter((r) => r.status === "failed");
  const changed = out.results.filter(hasChanges).length;
  const violated = policyNames(out.results, "mandatory");
  const violations = violated.length ? ` (policy violated: ${violated.join(", ")})` : "";
  if (failed.length)
    return { state: "failure", context: PREVIEW_CONTEXT, description: `failed: ${stackList(failed)}${violations}`, targetUrl };
  const advised = policyNames(out.results, "advisory");
  return {
    state: "success",
    context: PREVIEW_CONTEXT,
    description:
      (changed ? `changes in ${stacksWord(changed)}` : "no changes") + (advised.length ? `; policy warnings: ${advised.join(", ")}` : ""),
    targetUrl,
  };
}

/**
 * Creates this project's comment, or updates it in place: it is found by its marker among all of the
 * pull request's comments. A push that affects no stack updates an existing comment to say so and
 * creates none. Returns what it did.
 */
export async function upsertComment(
  forge: Forge,
  pr: number,
  marker: string,
  body: string,
  create: boolean,
): Promise<"created" | "updated" | "unchanged" | "none"> {
  const ours = (await forge.listComments(pr)).find((c) => c.body.startsWith(marker));
  if (ours) {
    if (ours.body === body) return "unchanged";
    await forge.updateComment(pr, ours.id, body);
    return "updated";
  }
  if (!create) return "none";
  await forge.createComment(pr, body);
  return "created";
}

/** Writes a failure to reach the forge like any other error, without touching the exit code. */
function reportFailure(e: unknown): void {
  if (!(e instanceof ForgeError)) throw e;
  process.stderr.write(formatError(e));
}

/** Posts the preview's comment and status as asked; a forge failure is reported, never thrown. */
export async function publishPreview(p: PreviewPosting, out: PreviewPost, log: { info(m: string): void }): Promise<void> {
  const { forge, target } = p;
  if (p.comment) {
    try {
      const did = await upsertComment(forge, target.pr!, p.marker, previewComment(p, out), out.results.length > 0);
      log.info(`${forge.name} ${target.repo}#${target.pr}: comment ${did === "none" ? "not created: no stack affected" : did}`);
    } catch (e) {
      reportFailure(e);
    }
  }
  if (p.status) {
    const status = previewStatus(out, target.targetUrl);
    try {
      await forge.setStatus(target.sha ?? out.commit, status);
      log.info(`${forge.name}: ${status.context} ${status.state} on ${(target.sha ?? out.commit).slice(0, 7)}: ${status.description}`);
    } catch (e) {
      reportFailure(e);
    }
  }
}

/**
 * When the preview itself stopped with an error the user can fix (an invalid stack file, a missing
 * base), the comment and the status say so, so the pull request's check turns red instead of
 * waiting forever. The error is still the command's own, rethrown by the caller.
 */
export async function publishPreviewError(p: PreviewPosting, err: unknown, repoDir: string, log: { info(m: string): void }): Promise<void> {
  if (!(err instanceof GitopsError)) return;
  const { forge, target } = p;
  const commit = await headCommit(repoDir);
  if (p.comment) {
    const f = fence(err.message);
    const body = `${p.marker}\n## Pulumi preview at \`${commit.slice(0, 7)}\`\n\nThe preview stopped before any stack ran:\n\n${f}\n${err.message}\n${f}\n\n${inline(err.hint)}\n`;
    try {
      const did = await upsertComment(forge, target.pr!, p.marker, body, true);
      log.info(`${forge.name} ${target.repo}#${target.pr}: comment ${did}`);
    } catch (e) {
      reportFailure(e);
    }
  }
  if (p.status) {
    try {
      await forge.setStatus(target.sha ?? commit, {
        state: "failure",
        context: PREVIEW_CONTEXT,
        description: err.message.split("\n")[0],
        targetUrl: target.targetUrl,
      });
    } catch (e) {
      reportFailure(e);
    }
  }
}

/** The hidden first line of apply's note on a merged pull request, one per project. */
export function applyMarker(project: string): string {
  return `<!-- pulumi-gitops apply: ${project} -->`;
}

export interface ApplyPosting {
  target: ForgeTarget;
  forge: Forge;
  status: boolean;
  /** Leave a note on the pull request merged as the deployed commit. */
  comment: boolean;
  marker: string;
}

export function applyPosting(a: ApplyForgeArgs, env: NodeJS.ProcessEnv, repoDir: string): ApplyPosting | undefined {
  if (!a.status && !a.comment) return undefined;
  const target = resolveTarget(a, env, { needPr: false });
  return {
    target,
    forge: openForge(target),
    status: !!a.status,
    comment: !!a.comment,
    marker: applyMarker(projectName(repoDir) ?? "default"),
  };
}

/** The note on the merged pull request: the marker, the refusal if any, then apply's report within the forge's budget. */
export function applyComment(
  p: Pick<ApplyPosting, "marker" | "forge">,
  commit: string,
  results: StackResult[],
  refusal: GitopsError | undefined,
): string {
  const head = p.marker + "\n";
  const refused = refusal ? `**Refused:** ${inline(refusal.message)}\n\n${inline(refusal.hint)}\n\n` : "";
  if (!results.length && !refused)
    return `${head}## Pulumi apply at \`${commit.slice(0, 7)}\`\n\nNothing to apply: every stack is in sync with this commit.\n`;
  const report = renderMarkdown(results, { title: "Pulumi apply", commit }, p.forge.maxCommentChars - head.length - refused.length);
  return head + report.replace(/\n\n/, `\n\n${refused}`);
}

export function applyStatus(results: StackResult[], refusal: GitopsError | undefined, targetUrl: string | undefined): CommitStatus {
  const failed = results.filter((r) => r.status === "failed");
  const applied = results.filter((r) => r.status === "succeeded");
  const waiting = results.filter((r) => r.status === "waiting");
  // A refused stack (a held lock) is among the failed results; the refusal says more.
  if (refusal) return { state: "error", context: APPLY_CONTEXT, description: `refused: ${refusal.message}`, targetUrl };
  if (failed.length) return { state: "failure", context: APPLY_CONTEXT, description: `failed: ${stackList(failed)}`, targetUrl };
  return {
    state: "success",
    context: APPLY_CONTEXT,
    description:
      (applied.length ? `applied ${stackList(applied)}` : "nothing to apply: in sync") +
      (waiting.length ? `; waiting at the gate: ${stackList(waiting)}` : ""),
    targetUrl,
  };
}

/**
 * Sets pulumi-gitops/apply on the commit apply ran on, and leaves the note on the pull request merged
 * as it (updated if apply runs again on it); a forge failure is reported, never thrown.
 */
export async function publishApply(
  p: ApplyPosting,
  commit: string,
  results: StackResult[],
  refusal: GitopsError | undefined,
  log: { info(m: string): void },
): Promise<void> {
  const sha = p.target.sha ?? commit;
  if (p.status) {
    const status = applyStatus(results, refusal, p.target.targetUrl);
    try {
      await p.forge.setStatus(sha, status);
      log.info(`${p.forge.name}: ${status.context} ${status.state} on ${sha.slice(0, 7)}: ${status.description}`);
    } catch (e) {
      reportFailure(e);
    }
  }
  if (p.comment) {
    try {
      const pr = p.target.pr ?? (await p.forge.mergedPullRequest(sha));
      if (pr === undefined) {
        log.info(`${p.forge.name}: no pull request was merged as ${sha.slice(0, 7)}; no note left`);
        return;
      }
      const did = await upsertComment(p.forge, pr, p.marker, applyComment(p, commit, results, refusal), true);
      log.info(`${p.forge.name} ${p.target.repo}#${pr}: apply note ${did}`);
    } catch (e) {
      reportFailure(e);
    }
  }
}
