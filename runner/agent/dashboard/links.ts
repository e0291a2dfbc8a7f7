/** Links from the dashboard to the forge that hosts the followed repository. */

/** What follows `https://<host>/<owner>/<repo>` in a commit's page, per public forge. */
const COMMIT_PATHS: Record<string, string> = {
  "github.com": "/commit/",
  "gitlab.com": "/-/commit/",
  "codeberg.org": "/commit/",
  "bitbucket.org": "/commits/",
};

/**
 * The URL that a commit hash completes to its page, for a repository on a known public forge
 * (https, ssh:// or scp-like `git@host:owner/repo` URLs); undefined for any other host, whose web
 * address cannot be told from its git URL. Credentials in the URL are left out.
 */
export function commitUrlBase(source: string): string | undefined {
  const m = /^(?:(?:https?|ssh|git):\/\/(?:[^@/]+@)?([^/:]+)(?::\d+)?\/|[^@/:]+@([^/:]+):)([^?#]+?)(?:\.git)?\/?$/i.exec(source);
  if (!m) return undefined;
  const host = (m[1] ?? m[2]).toLowerCase();
  const tail = COMMIT_PATHS[host];
  return tail && `https://${host}/${m[3]}${tail}`;
}
