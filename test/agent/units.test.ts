// The agent's small pure parts: backoff schedule, durations, listen addresses, webhook signatures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { commitUrlBase } from "../../runner/agent/dashboard/links";
import { authenticHook, parseListen, pushedBranch, validSignature } from "../../runner/agent/server";
import { parseDuration } from "../../runner/commands/agent";
import { ExitCode, GitopsError } from "../../runner/errors";
import { backoffDelay } from "../../runner/services/backoff";
import { redactUrls } from "../../runner/services/git";

test("backoffDelay doubles from the base and stops at the cap", () => {
  const schedule = [1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelay(n, 30_000, 600_000));
  assert.deepEqual(schedule, [30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  assert.equal(backoffDelay(0, 1000, 5000), 1000, "no attempt yet waits the base");
  assert.equal(backoffDelay(3, 1000, 500), 500, "a cap below the base wins");
});

test("parseDuration reads bare seconds, units and compounds", () => {
  assert.equal(parseDuration("interval", "90"), 90_000);
  assert.equal(parseDuration("interval", "250ms"), 250);
  assert.equal(parseDuration("interval", "1.5s"), 1500);
  assert.equal(parseDuration("interval", "15m"), 900_000);
  assert.equal(parseDuration("interval", "1h30m"), 5_400_000);
  assert.equal(parseDuration("drift-interval", "0"), 0);
});

test("parseDuration names the option and the bad value", () => {
  for (const bad of ["", "ten", "10 minutes", "5d", "-1s", "1m x"]) {
    assert.throws(
      () => parseDuration("backoff-cap", bad),
      (err: unknown) => err instanceof GitopsError && err.exitCode === ExitCode.usage && err.message.includes(`--backoff-cap '${bad}'`),
      bad,
    );
  }
});

test("parseListen splits host and port, IPv6 in brackets", () => {
  assert.deepEqual(parseListen("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("[::1]:0"), { host: "::1", port: 0 });
  for (const bad of ["9464", "localhost", "127.0.0.1:", "127.0.0.1:70000", "::1:9464"]) {
    assert.throws(
      () => parseListen(bad),
      (err: unknown) => err instanceof GitopsError && err.message.includes(`'${bad}'`),
      bad,
    );
  }
});

test("validSignature accepts only the HMAC-SHA256 of the exact body", () => {
  const secret = Buffer.from("s3cret");
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const sign = (key: Buffer, data: Buffer) => `sha256=${createHmac("sha256", key).update(data).digest("hex")}`;
  assert.equal(validSignature(secret, body, sign(secret, body)), true);
  assert.equal(
    validSignature(secret, body, sign(secret, body).toUpperCase().replace("SHA256=", "sha256=")),
    true,
    "hex case does not matter",
  );
  assert.equal(validSignature(secret, body, sign(Buffer.from("other"), body)), false, "another key");
  assert.equal(validSignature(secret, Buffer.from(body.toString() + " "), sign(secret, body)), false, "another body");
  assert.equal(validSignature(secret, body, undefined), false, "no header");
  assert.equal(validSignature(secret, body, sign(secret, body).replace("sha256=", "sha1=")), false, "another algorithm");
  assert.equal(validSignature(secret, body, sign(secret, body).slice(0, -2)), false, "truncated");
});

test("authenticHook takes each forge's own scheme: GitHub's and Gitea's HMAC, GitLab's token", () => {
  const secret = Buffer.from("s3cret");
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const hmac = (key: string, data: Buffer) => createHmac("sha256", key).update(data).digest("hex");
  const ok = (headers: Record<string, string>) => authenticHook(secret, body, headers);

  assert.equal(ok({ "x-hub-signature-256": `sha256=${hmac("s3cret", body)}` }), true, "GitHub");
  assert.equal(ok({ "x-hub-signature-256": `sha256=${hmac("other", body)}` }), false, "GitHub, another key");
  assert.equal(
    ok({ "x-hub-signature-256": `sha256=${hmac("other", body)}`, "x-gitea-signature": hmac("s3cret", body) }),
    false,
    "a wrong GitHub signature is not saved by another header",
  );

  assert.equal(ok({ "x-gitea-signature": hmac("s3cret", body) }), true, "Gitea: bare hex");
  assert.equal(ok({ "x-gogs-signature": hmac("s3cret", body) }), true, "Gogs: the same");
  assert.equal(ok({ "x-gitea-signature": hmac("other", body) }), false, "Gitea, another key");
  assert.equal(ok({ "x-gitea-signature": hmac("s3cret", Buffer.from(body + " ")) }), false, "Gitea, another body");
  assert.equal(ok({ "x-gitea-signature": `sha256=${hmac("s3cret", body)}` }), false, "Gitea's header has no prefix");
  assert.equal(ok({ "x-gitea-signature": "" }), false, "Gitea, empty (a hook without a secret)");

  assert.equal(ok({ "x-gitlab-token": "s3cret" }), true, "GitLab: the secret itself");
  assert.equal(ok({ "x-gitlab-token": "s3cre" }), false, "GitLab, a prefix of the secret");
  assert.equal(ok({ "x-gitlab-token": "s3cretX" }), false, "GitLab, longer");
  assert.equal(ok({ "x-gitlab-token": "" }), false, "GitLab, empty");

  assert.equal(ok({}), false, "no header at all");
  assert.equal(ok({ "x-gitlab-token": hmac("s3cret", body) }), false, "an HMAC is not the token");
});

test("pushedBranch names the branch of a push event, from each forge's headers", () => {
  const json = { "content-type": "application/json" };
  const push = (ref: string) => Buffer.from(JSON.stringify({ ref, after: "0".repeat(40) }));
  assert.equal(pushedBranch({ ...json, "x-github-event": "push" }, push("refs/heads/main")), "main");
  assert.equal(pushedBranch({ ...json, "x-gitea-event": "push" }, push("refs/heads/release/1")), "release/1");
  assert.equal(pushedBranch({ ...json, "x-gitlab-event": "Push Hook" }, push("refs/heads/main")), "main");
  assert.equal(
    pushedBranch(
      { "content-type": "application/x-www-form-urlencoded", "x-github-event": "push" },
      Buffer.from(new URLSearchParams({ payload: push("refs/heads/main").toString() }).toString()),
    ),
    "main",
    "GitHub's form-encoded payload",
  );
  assert.equal(pushedBranch({ ...json, "x-github-event": "push" }, push("refs/tags/v1")), undefined, "a tag");
  assert.equal(pushedBranch({ ...json, "x-gitlab-event": "Tag Push Hook" }, push("refs/tags/v1")), undefined, "GitLab's tag push");
  assert.equal(pushedBranch({ ...json, "x-github-event": "ping" }, Buffer.from("{}")), undefined, "a ping");
  assert.equal(pushedBranch({ ...json }, push("refs/heads/main")), undefined, "no event named");
  assert.equal(pushedBranch({ ...json, "x-github-event": "push" }, Buffer.from("not json")), undefined, "not JSON");
});

test("redactUrls masks the credentials of every URL and nothing else", () => {
  assert.equal(
    redactUrls("cannot clone https://bot:ghp_s3cret@git.example.com/infra.git or ssh://git@host/x.git; see https://example.com/docs"),
    "cannot clone https://***@git.example.com/infra.git or ssh://***@host/x.git; see https://example.com/docs",
  );
  assert.equal(redactUrls("/srv/git/infra.git"), "/srv/git/infra.git");
});

test("commitUrlBase links commits on the public forges, without credentials, and nowhere else", () => {
  const cases: [string, string | undefined][] = [
    ["https://github.com/example/infra.git", "https://github.com/example/infra/commit/"],
    ["https://bot:ghp_s3cret@github.com/example/infra", "https://github.com/example/infra/commit/"],
    ["git@github.com:example/infra.git", "https://github.com/example/infra/commit/"],
    ["ssh://git@GitHub.com:22/example/infra.git", "https://github.com/example/infra/commit/"],
    ["https://gitlab.com/group/sub/infra.git", "https://gitlab.com/group/sub/infra/-/commit/"],
    ["git@codeberg.org:example/infra.git", "https://codeberg.org/example/infra/commit/"],
    ["https://bitbucket.org/example/infra.git/", "https://bitbucket.org/example/infra/commits/"],
    ["https://git.example.com/infra.git", undefined],
    ["git://127.0.0.1:9418/origin.git", undefined],
    ["/srv/git/infra.git", undefined],
  ];
  for (const [source, base] of cases) assert.equal(commitUrlBase(source), base, source);
});
