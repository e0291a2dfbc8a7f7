/**
 * The agent's HTTP surface: probes, Prometheus metrics, status, the dashboard, and the push webhook. Plain
 * node:http; the routes are few and fixed.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { usageError } from "../errors";
import { dashboardAsset } from "./dashboard/route";

/** Largest webhook body accepted; push events are a few kilobytes. */
const MAX_BODY = 1024 * 1024;

export interface Handlers {
  ready(): boolean;
  status(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The followed branch: only a push to it queues a sync. */
  branch: string;
  /** Queues a sync for a verified push webhook. */
  push(event: string | undefined): void;
  /** A verified webhook that is not a push to the branch (a ping, another branch, a tag): counted, not acted on. */
  ignoredHook(event: string | undefined): void;
  /** A webhook refused for its signature (counted, never acted on). */
  refusedHook(): void;
  /** The HMAC key for webhooks, or undefined when they are disabled. */
  webhookSecret?: Buffer;
}

/** `host:port`; an IPv6 host is written in brackets. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw usageError(`--listen '${value}' is not host:port`, "for example --listen 127.0.0.1:9464, or 0.0.0.0:9464 inside a pod");
  return { host: m[1] ?? m[2], port };
}

/** Checks GitHub's `X-Hub-Signature-256: sha256=<hex>` in constant time. */
export function validSignature(secret: Buffer, body: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? "");
  return m !== null && validHmac(secret, body, m[1]);
}

/** The hex HMAC-SHA256 of the body, without a prefix (Gitea's `X-Gitea-Signature`), in constant time. */
function validHmac(secret: Buffer, body: Buffer, hex: string): boolean {
  return /^[0-9a-f]{64}$/i.test(hex) && timingSafeEqual(createHmac("sha256", secret).update(body).digest(), Buffer.from(hex, "hex"));
}

/** Equal in constant time whatever the lengths: both hashed first. */
function sameSecret(secret: Buffer, token: string | undefined): boolean {
  const digest = (b: Buffer) => createHash("sha256").update(b).digest();
  return token !== undefined && timingSafeEqual(digest(secret), digest(Buffer.from(token)));
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Whether a webhook proves it holds the secret, in its forge's own scheme: GitHub's
 * `X-Hub-Signature-256` (Gitea and Forgejo send it too), Gitea's or Gogs' bare hex signature, or
 * GitLab's `X-Gitlab-Token`, which is the secret itself. The first of these headers present decides.
 */
export function authenticHook(secret: Buffer, body: Buffer, headers: http.IncomingHttpHeaders): boolean {
  if (headers["x-hub-signature-256"] !== undefined) return validSignature(secret, body, header(headers, "x-hub-signature-256"));
  const bare = header(headers, "x-gitea-signature") ?? header(headers, "x-gogs-signature");
  if (bare !== undefined) return validHmac(secret, body, bare.trim());
  return sameSecret(secret, header(headers, "x-gitlab-token"));
}

/** The event a forge names in its headers; GitLab calls a push `Push Hook`. */
function hookEvent(headers: http.IncomingHttpHeaders): string | undefined {
  return ["x-github-event", "x-gitea-event", "x-gogs-event", "x-gitlab-event"].map((h) => header(headers, h)).find((v) => v !== undefined);
}

/** The branch a push event's payload (`ref`, JSON or GitHub's form-encoded `payload=`) names, if it is one. */
export function pushedBranch(headers: http.IncomingHttpHeaders, body: Buffer): string | undefined {
  const event = hookEvent(headers);
  if (event !== "push" && event !== "Push Hook") return undefined;
  const text = header(headers, "content-type")?.startsWith("application/x-www-form-urlencoded")
    ? new URLSearchParams(body.toString("utf8")).get("payload")
    : body.toString("utf8");
  try {
    const ref: unknown = JSON.parse(text ?? "").ref;
    return typeof ref === "string" && ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
  } catch {
    return undefined;
  }
}

function send(res: http.ServerResponse, code: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(code, { "content-type": type, "cache-control": "no-store" }).end(body);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function route(h: Handlers, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://agent");
  const get = req.method === "GET" || req.method === "HEAD";
  if (url.pathname === "/healthz" && get) return send(res, 200, "ok\n");
  if (url.pathname === "/readyz" && get)
    return h.ready() ? send(res, 200, "ready\n") : send(res, 503, "not ready: the first sync has not completed\n");
  if (url.pathname === "/metrics" && get) {
    const m = await h.metrics();
    return send(res, 200, m.body, m.contentType);
  }
  const asset = get ? dashboardAsset(url.pathname) : undefined;
  if (asset) return void res.writeHead(200, asset.headers).end(asset.body);
  if (url.pathname === "/status" && get) return send(res, 200, JSON.stringify(h.status(), null, 2) + "\n", "application/json");
  if (url.pathname === "/hooks/git") {
    if (req.method !== "POST") return send(res, 405, "POST a push event here\n");
    if (!h.webhookSecret) return send(res, 404, "webhooks are disabled: start the agent with --webhook-secret-file\n");
    const body = await readBody(req);
    if (!body) return send(res, 413, `the body is larger than ${MAX_BODY} bytes\n`);
    if (!authenticHook(h.webhookSecret, body, req.headers)) {
      h.refusedHook();
      return send(res, 401, "missing or wrong X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token\n");
    }
    const event = hookEvent(req.headers);
    if (pushedBranch(req.headers, body) !== h.branch) {
      h.ignoredHook(event);
      return send(res, 200, `ignored: not a push to ${h.branch}\n`);
    }
    h.push(event);
    return send(res, 202, "sync queued\n");
  }
  send(res, 404, "not found: / (the dashboard) /healthz /readyz /metrics /status, POST /hooks/git\n");
}

export async function startServer(
  listen: string,
  h: Handlers,
  onError: (err: Error) => void,
): Promise<{ server: http.Server; address: string }> {
  const { host, port } = parseListen(listen);
  const server = http.createServer((req, res) => {
    route(h, req, res).catch((err: Error) => {
      onError(err);
      if (!res.headersSent) send(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE" || err.code === "EACCES" || err.code === "EADDRNOTAVAIL"
          ? usageError(`cannot listen on ${listen}: ${err.code}`, "choose another --listen address or port")
          : err,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { server, address: `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}` };
}
