/**
 * The agent's dashboard in a real browser (Debian's chromium), against a running agent on a repository
 * served by a real git daemon and the real engine: the stacks and their commits, a push shown without
 * a reload, a failing commit's error, a drifted resource, a pin, the history view by keyboard, a
 * narrow screen. Screenshots go to test-results/dashboard/.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { startGitDaemon, type GitDaemon } from "../fixtures/gitDaemon";
import { startAgent } from "../helpers/agent";
import { ARTEFACTS, launchChromium } from "../helpers/browser";
import { gitops } from "../helpers/cli";
import { createFileRepo, fileStackYaml, type TestRepo } from "../helpers/repo";

/** A deadline for what the page must come to show (an engine run or two), not a timing assertion. */
const DEADLINE_MS = 300_000;
const SHOTS = path.join(ARTEFACTS, "dashboard");

const short = (commit: string) => commit.slice(0, 7);
const stagingYaml = (content: string) => `config:\n  drift-fixture:path: target/staging.txt\n  drift-fixture:content: ${content}\n`;

/** Waits until an element at `selector` shows `text` as a reader sees it (innerText); fails with what it shows instead. */
async function shows(page: Page, selector: string, text: string | RegExp): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const now = await page.locator(selector).allInnerTexts();
    if (now.some((t) => (typeof text === "string" ? t.includes(text) : text.test(t)))) return;
    if (Date.now() > deadline)
      throw new Error(`${selector} did not show ${text} within ${DEADLINE_MS / 1000} s; it shows ${JSON.stringify(now)}`);
    await page.waitForTimeout(250);
  }
}

/**
 * The lowest WCAG contrast ratio between any visible text on the page and the background behind it
 * (the nearest opaque one), with the text that has it. Plain JavaScript in a string: it runs in the
 * page as written, without the helpers the test's TypeScript compiler would add.
 */
const LOWEST_CONTRAST = `(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lin = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const luminance = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let lowest = { ratio: 21, text: "" };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.checkVisibility()) continue;
    const [a, b] = [luminance(rgb(getComputedStyle(el).color)), luminance(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < lowest.ratio) lowest = { ratio, text: n.textContent.trim().slice(0, 60) };
  }
  return lowest;
})()`;

const card = (stack: string) => `article[data-stack="${stack}"]`;

describe("the agent's dashboard", () => {
  let repo: TestRepo;
  let daemon: GitDaemon;
  let workDir: string;
  let url: string;
  let first: string;
  let second: string;
  let broken: string;

  const push = (files: Record<string, string>, message: string): string => {
    for (const [file, text] of Object.entries(files)) repo.write(file, text);
    const commit = repo.commit(message);
    repo.git("push", "-q", "origin", "main");
    return commit;
  };

  before(async () => {
    repo = createFileRepo("hello");
    first = push({ "stacks/Pulumi.staging.yaml": stagingYaml("staged") }, "add a staging stack");
    daemon = await startGitDaemon(path.dirname(repo.origin));
    url = daemon.url(path.basename(repo.origin));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-dashboard-"));
    fs.mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await daemon.stop();
    repo.remove();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("shows each stack's commit, a new commit without a reload, and a failing commit's error", async (t) => {
    const browser = await launchChromium(t);
    const agent = await startAgent(t, workDir, [
      "--repo",
      url,
      "--interval",
      "1s",
      "--drift-interval",
      "0",
      "--backoff-base",
      "1h",
      "--backoff-cap",
      "2h",
    ]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

    const response = await page.goto(agent.url + "/");
    assert.equal(response?.status(), 200);
    assert.match(response!.headers()["content-security-policy"], /default-src 'none'/, "nothing is loaded from elsewhere");
    for (const stack of ["dev", "staging"]) {
      await shows(page, `${card(stack)} .state`, "in sync");
      const text = await page.locator(card(stack)).innerText();
      assert.match(text, new RegExp(`Runs\\s+${short(first)} add a staging stack`));
      assert.match(text, /Author\s+Test, (just now|\d+ (seconds?|minutes?) ago)/);
      assert.match(text, new RegExp(`Last attempt\\s+succeeded apply of ${short(first)}`));
    }
    assert.deepEqual(await page.locator("article").evaluateAll((as) => as.map((a) => a.getAttribute("data-stack"))), ["dev", "staging"]);
    await page.screenshot({ path: path.join(SHOTS, "1-deployed.png"), fullPage: true });

    // A mark on the window: a reload would lose it.
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));
    second = push({ "stacks/Pulumi.dev.yaml": fileStackYaml("hi"), "stacks/Pulumi.staging.yaml": stagingYaml("staged again") }, "say hi");
    for (const stack of ["dev", "staging"]) await shows(page, card(stack), new RegExp(`Runs\\s+${short(second)} say hi`));
    assert.equal(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
      true,
      "the page was not reloaded",
    );

    broken = push({ "stacks/Pulumi.dev.yaml": fileStackYaml(undefined) }, "forget the content");
    await shows(page, "#failure", /drift-fixture:content/);
    const failure = await page.locator("#failure").innerText();
    assert.match(failure, new RegExp(`Commit ${short(broken)} failed \\(attempt 1\\)\\. Backoff 1 h`));
    assert.match(failure, new RegExp(`applying ${short(broken)} failed \\(dev: `));
    await shows(page, `${card("dev")} .state`, "failed");
    const dev = await page.locator(card("dev")).innerText();
    assert.match(dev, new RegExp(`Runs\\s+${short(second)} say hi`), "the stack keeps its last good commit");
    assert.match(dev, new RegExp(`Last attempt\\s+failed apply of ${short(broken)}`));
    assert.equal(
      await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
      true,
      "the page was not reloaded",
    );
    await page.screenshot({ path: path.join(SHOTS, "2-failed.png"), fullPage: true });
    assert.deepEqual(errors, [], "no script error, nothing refused by the page's security policy");
    assert.equal((await agent.stop()).code, 0);
  });

  it("shows a pin and a drifted resource, opens the history by keyboard, and fits a narrow screen", async (t) => {
    // An operator rolls staging back where the agent runs, as in the agent's own tests.
    const rollback = await gitops(path.join(workDir, "repo"), "rollback", "--stack", "staging", "--to", first, "--yes");
    assert.equal(rollback.code, 0, rollback.stderr);
    fs.writeFileSync(path.join(workDir, "repo", "target", "greeting.txt"), "tampered");

    const browser = await launchChromium(t);
    const agent = await startAgent(t, workDir, [
      "--repo",
      url,
      "--interval",
      "1s",
      "--drift-interval",
      "1s",
      "--backoff-base",
      "1h",
      "--backoff-cap",
      "2h",
    ]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(agent.url + "/");

    await shows(page, `${card("staging")} .state`, `pinned to ${short(first)}`);
    assert.match(await page.locator(card("staging")).innerText(), new RegExp(`Pinned\\s+${short(first)} by a rollback`));
    await shows(page, card("dev"), /Drift\s+drifted: greeting \(content\)/);
    await shows(page, "#drift", /dev drifted/);
    await shows(page, "#failure", /drift-fixture:content/);
    await page.screenshot({ path: path.join(SHOTS, "3-pinned-drifted.png"), fullPage: true });

    // Keyboard only: tab to dev's history and open it.
    const summary = page.locator(`${card("dev")} summary`);
    for (let i = 0; i < 40 && !(await summary.evaluate((s) => s === document.activeElement)); i++) await page.keyboard.press("Tab");
    assert.ok(await summary.evaluate((s) => s === document.activeElement), "dev's history is reachable with Tab");
    await page.keyboard.press("Enter");
    const table = page.locator(`${card("dev")} table`);
    await table.waitFor({ state: "visible", timeout: DEADLINE_MS });
    const rows = await table.locator("tbody tr").allInnerTexts();
    assert.ok(
      rows.some((r) => r.includes(short(second)) && /update\s+succeeded/.test(r)),
      rows.join("\n"),
    );
    assert.ok(
      rows.some((r) => r.includes(short(broken)) && /update\s+failed/.test(r)),
      rows.join("\n"),
    );
    // The next polls keep the view open and focused.
    const updated = await page.locator("#updated").innerText();
    await page.waitForFunction((before) => document.getElementById("updated")!.textContent !== before, updated, { timeout: DEADLINE_MS });
    assert.equal(await page.locator(`${card("dev")} details`).evaluate((d) => (d as HTMLDetailsElement).open), true);
    assert.ok(await summary.evaluate((s) => s === document.activeElement), "focus stays on the history's summary");
    await page.screenshot({ path: path.join(SHOTS, "4-history.png"), fullPage: true });

    const contrast = await page.evaluate<{ ratio: number; text: string }>(LOWEST_CONTRAST);
    assert.ok(contrast.ratio >= 4.5, `text contrast ${contrast.ratio.toFixed(2)}:1 (below WCAG AA's 4.5:1) at "${contrast.text}"`);

    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, "no sideways scrolling on a phone");
    await page.screenshot({ path: path.join(SHOTS, "5-narrow.png"), fullPage: true });
    assert.deepEqual(errors, []);
    assert.equal((await agent.stop()).code, 0);
  });
});
