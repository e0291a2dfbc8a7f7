/**
 * Merge requests on GitLab. No GitLab server can run here, so the real gitops CLI, on a real
 * repository, talks to a local HTTP server that accepts only what GitLab's REST API documents
 * (docs.gitlab.com/api/notes, /api/commits#set-the-pipeline-status-of-a-commit, /api/rest#pagination):
 * the paths, the PRIVATE-TOKEN header, the bodies, the states; it pages the notes the way GitLab does
 * (per_page at most 100, Link and x-next-page headers). Anything else is answered 404 and recorded.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { freePort } from "../fixtures/proc";
import { startCli, type CliResult } from "../helpers/cli";
import { createRepo, type TestRepo } from "../helpers/repo";

const TOKEN = "glpat-test-token";
const PROJECT = "42";
const MR = 7;
const MARKER = "<!-- pulumi-gitops preview: pulumi-gitops -->";

interface Note {
  id: number;
  body: string;
  system: boolean;
}
interface Status {
  sha: string;
  state: string;
  name?: string;
  target_url?: string;
  description?: string;
}

/** The part of GitLab's API that merge request notes and commit statuses use. */
class GitLabApi {
  notes: Note[] = [];
  statuses: Status[] = [];
  unexpected: string[] = [];
  /** Answer every request with this status (a forge having a bad day). */
  failWith?: number;
  private nextId = 1000;
  server?: http.Server;
  url = "";

  async start(): Promise<void> {
    const port = await freePort();
    this.server = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (d) => (raw += d));
      req.on("end", () => this.handle(req, raw, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${port}/api/v4`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  addNote(body: string, system = false): void {
    this.notes.push({ id: this.nextId++, body, system });
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url!, "http://gitlab.invalid");
    const what = `${req.method} ${url.pathname}`;
    if (req.headers["private-token"] !== TOKEN) return send(401, { message: "401 Unauthorized" });
    if (this.failWith) return send(this.failWith, { message: `${this.failWith} Forbidden` });
    let body: Record<string, unknown> = {};
    if (raw) {
      if (!String(req.headers["content-type"]).startsWith("application/json")) return this.reject(what, "a body that is not JSON", res);
      body = JSON.parse(raw);
    }
    const notesPath = `/api/v4/projects/${PROJECT}/merge_requests/${MR}/notes`;
    if (req.method === "GET" && url.pathname === notesPath) {
      const perPage = Math.min(Number(url.searchParams.get("per_page") ?? 20), 100);
      const page = Number(url.searchParams.get("page") ?? 1);
      const sorted = url.searchParams.get("sort") === "asc" ? this.notes : [...this.notes].reverse();
      const slice = sorted.slice((page - 1) * perPage, page * perPage);
      const pages = Math.max(1, Math.ceil(sorted.length / perPage));
      const headers: Record<string, string> = {
        "x-page": String(page),
        "x-per-page": String(perPage),
        "x-total": String(sorted.length),
        "x-total-pages": String(pages),
      };
      if (page < pages) {
        const next = new URL(url.href.replace("http://gitlab.invalid", this.url.replace(/\/api\/v4$/, "")));
        next.searchParams.set("page", String(page + 1));
        headers["x-next-page"] = String(page + 1);
        headers.link = `<${next.href}>; rel="next"`;
      }
      return send(200, slice, headers);
    }
    if (req.method === "POST" && url.pathname === notesPath) {
      if (typeof body.body !== "string" || !body.body) return this.reject(what, "no body", res);
      this.addNote(body.body);
      return send(201, this.notes[this.notes.length - 1]);
    }
    const edit = new RegExp(`^${notesPath}/(\\d+)$`).exec(url.pathname);
    if (req.method === "PUT" && edit) {
      const note = this.notes.find((n) => n.id === Number(edit[1]));
      if (!note) return send(404, { message: "404 Not found" });
      if (typeof body.body !== "string") return this.reject(what, "no body", res);
      note.body = body.body;
      return send(200, note);
    }
    const status = new RegExp(`^/api/v4/projects/${PROJECT}/statuses/([0-9a-f]{40})$`).exec(url.pathname);
    if (req.method === "POST" && status) {
      if (!["pending", "running", "success", "failed", "canceled", "skipped"].includes(String(body.state)))
        return this.reject(what, `state ${body.state}`, res);
      this.statuses.push({ sha: status[1], ...(body as Omit<Status, "sha">) });
      return send(201, { id: this.statuses.length, status: body.state, name: body.name });
    }
    return this.reject(what, "an undocumented route", res);
  }

  private reject(what: string, why: string, res: http.ServerResponse): void {
    this.unexpected.push(`${what}: ${why}`);
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "404 Not Found" }));
  }
}

describe("merge requests on GitLab (a server checking GitLab's documented API)", () => {
  const gitlab = new GitLabApi();
  let repo: TestRepo;
  before(async () => {
    await gitlab.start();
    repo = createRepo();
    repo.git("checkout", "-q", "-b", "scale-staging");
  });
  after(async () => {
    repo?.remove();
    await gitlab.stop();
  });

  function push(replicas: number): string {
    const file = "stacks/Pulumi.staging.yaml";
    repo.write(file, repo.read(file).replace(/replicas: \d+/, `replicas: ${replicas}`));
    return repo.commit(`staging: ${replicas} replicas`);
  }

  /** gitops as a GitLab merge request pipeline job runs it. */
  const ciRun = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    startCli(repo.dir, args, {
      GITLAB_CI: "true",
      CI_API_V4_URL: gitlab.url,
      CI_PROJECT_ID: PROJECT,
      CI_MERGE_REQUEST_IID: String(MR),
      CI_COMMIT_SHA: repo.git("rev-parse", "HEAD"),
      CI_JOB_URL: "https://gitlab.example.invalid/infra/-/jobs/9",
      GITLAB_TOKEN: TOKEN,
      ...env,
    }).done;

  it("keeps one note among 250 others across pages, updated on a second push, and sets the status", async () => {
    for (let i = 0; i < 120; i++) gitlab.addNote(`review note ${i}`);
    gitlab.addNote("added 1 commit", true);
    let head = push(3);
    const first = await ciRun(["preview", "--comment", "--status"]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(gitlab.unexpected, []);
    const ours = () => gitlab.notes.filter((n) => n.body.startsWith(MARKER));
    assert.equal(ours().length, 1);
    const id = ours()[0].id;
    assert.match(ours()[0].body, /\| staging \| \d+ \| 0 \| 0 \| 0 \| 0 \| changes \|/);
    assert.deepEqual(gitlab.statuses, [
      {
        sha: head,
        state: "success",
        name: "pulumi-gitops/preview",
        description: "changes in 1 stack",
        target_url: "https://gitlab.example.invalid/infra/-/jobs/9",
      },
    ]);

    for (let i = 120; i < 250; i++) gitlab.addNote(`review note ${i}`);
    head = push(4);
    const second = await ciRun(["preview", "--comment", "--status"]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(gitlab.unexpected, []);
    assert.equal(gitlab.notes.length, 252);
    assert.deepEqual(
      ours().map((n) => n.id),
      [id],
    );
    assert.ok(ours()[0].body.includes(`at \`${head.slice(0, 7)}\``));
    assert.equal(gitlab.statuses.at(-1)?.sha, head);
  });

  it("keeps the preview's exit code when GitLab refuses, and says so", async () => {
    gitlab.failWith = 403;
    try {
      const r = await ciRun(["preview", "--comment", "--status", "--detailed-exitcode"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^error: GitLab answered 403 to listing the notes of merge request !7 of 42: .*\nhint: the token may not do this/m,
      );
      assert.match(r.stderr, /^error: GitLab answered 403 to setting the status pulumi-gitops\/preview on [0-9a-f]{7}/m);
    } finally {
      gitlab.failWith = undefined;
    }
  });
});
