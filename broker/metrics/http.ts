/**
 * What a WebSocket listener answers to plain HTTP: `GET /metrics` (Prometheus text format) when
 * the listener has `metrics true`, and the dashboard's files when it has `dashboard true`. The
 * dashboard's files are embedded in the program (`broker/dashboard/assets.ts`), so the compiled
 * binary and the bundle serve them with nothing on disk and nothing fetched from elsewhere.
 *
 * @module
 */

import type { DashboardAsset } from "../dashboard/assets.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./prometheus.ts";
import type { MetricsRegistry } from "./registry.ts";

/** What {@linkcode serveHttp} may answer. */
export interface HttpRoutes {
  /** Serve `GET /metrics`. */
  metrics: boolean;
  /** Serve the dashboard at `/`. */
  dashboard: boolean;
  /** What `/metrics` renders. */
  registry: MetricsRegistry;
}

/** Headers on every dashboard file: no framing, no sniffing, nothing loaded from elsewhere. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Gzipped asset bodies, made on first request. */
const gzipped = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

/**
 * Answers one HTTP request: `/metrics`, a dashboard file, 405 for other methods on them, else
 * 404.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsRegistry } from "./registry.ts";
 * import { serveHttp } from "./http.ts";
 * const registry = new MetricsRegistry();
 * registry.gauge({ name: "demo_up", help: "Up." }, () => 1);
 * const response = await serveHttp(new Request("http://localhost/metrics"), {
 *   metrics: true,
 *   dashboard: false,
 *   registry,
 * });
 * assert.equal(response.status, 200);
 * assert.match(await response.text(), /^demo_up 1$/m);
 * ```
 */
export async function serveHttp(request: Request, routes: HttpRoutes): Promise<Response> {
  const path = new URL(request.url).pathname;
  const head = request.method === "HEAD";
  if (routes.metrics && path === "/metrics") {
    if (request.method !== "GET" && !head) return notAllowed();
    const text = renderPrometheus(routes.registry.collect());
    return new Response(head ? null : text, {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  }
  // The page (MQTT.js included) is loaded on first request, not by every broker.
  const assets = routes.dashboard ? (await import("../dashboard/assets.ts")).DASHBOARD_ASSETS : {};
  const asset = routes.dashboard ? assets[path === "/index.html" ? "/" : path] : undefined;
  if (asset === undefined) return new Response("Not found\n", { status: 404 });
  if (request.method !== "GET" && !head) return notAllowed();
  return await serveAsset(request, path, asset, head);
}

async function serveAsset(
  request: Request,
  path: string,
  asset: DashboardAsset,
  head: boolean,
): Promise<Response> {
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "content-type": asset.type,
    etag: asset.etag,
    // Revalidated each time (a 304 costs a few bytes) so an upgraded broker serves its own page.
    "cache-control": "no-cache",
    vary: "accept-encoding",
  };
  if (request.headers.get("if-none-match") === asset.etag) {
    return new Response(null, { status: 304, headers });
  }
  if (!/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) {
    return new Response(head ? null : asset.body, { headers });
  }
  let body = gzipped.get(path);
  if (body === undefined) {
    body = gzip(asset.body);
    gzipped.set(path, body);
  }
  headers["content-encoding"] = "gzip";
  return new Response(head ? null : await body, { headers });
}

async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function notAllowed(): Response {
  return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
}
