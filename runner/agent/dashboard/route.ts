/**
 * The dashboard's files: one read-only page that polls /status. Read once at start; nothing on it
 * is fetched from elsewhere, which its Content-Security-Policy enforces in the browser.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { INSTALL_DIR } from "../../services/context";

/** The page's own files stay beside this module's source; the compiled CLI in dist/ reads them there. */
const DIR = path.join(INSTALL_DIR, "runner", "agent", "dashboard");

const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
  "/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

const HEADERS = {
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  // Commit links lead to the forge: they need not tell it where the agent is.
  "referrer-policy": "no-referrer",
};

const assets = new Map(
  Object.entries(FILES).map(([route, { file, type }]) => [
    route,
    { body: fs.readFileSync(path.join(DIR, file)), headers: { ...HEADERS, "content-type": type } },
  ]),
);

/** The page or one of its files at `pathname`, or undefined when it is none of them. */
export function dashboardAsset(pathname: string): { body: Buffer; headers: Record<string, string> } | undefined {
  return assets.get(pathname);
}
