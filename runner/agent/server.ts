/**
 * The agent's HTTP surface: probes, Prometheus metrics, status, the dashboard, and the push webhook. Plain
 * node:http; the routes are few and fixed.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
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
  /** Queues a sync for a verified push webhook. */
  push(event: string | undefined): void;
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

/** Checks GitHub's `X-Hub-Signature-256: sha256=<hex>` (also what Gitea and GitLab-compatible senders use) in constant time. */
export function validSignature(secret: Buffer, body: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? "");
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(m[1], "hex"));
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
    if (!validSignature(h.webhookSecret, body, req.headers["x-hub-signature-256"] as string | undefined)) {
      h.refusedHook();
      return send(res, 401, "missing or wrong X-Hub-Signature-256\n");
    }
    h.push(req.headers["x-github-event"] as string | undefined);
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
