/** A real browser for the dashboard's tests: Debian's chromium, driven by playwright-core. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { PROJECT } from "./repo";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Screenshots of the tests, kept after the run as artefacts (gitignored). */
export const ARTEFACTS = path.join(PROJECT, "test-results");

/** Launches chromium for this test and closes it after; fails, saying how to install it, when it is missing. */
export async function launchChromium(t: TestContext): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `the dashboard's browser tests need Debian's chromium at ${CHROMIUM}, which is not installed: run \`apt-get install -y chromium\` as root (provision/chromium.sh, which npm test runs, does it when run as root)`,
    );
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  t.after(() => browser.close());
  return browser;
}
