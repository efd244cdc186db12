/**
 * `metrics true` and `dashboard true` on WebSocket listeners: what is served, what is not, and
 * that MQTT over WebSockets keeps working on the same port.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Broker } from "../../broker/broker.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { DASHBOARD_ASSETS } from "../../broker/dashboard/assets.ts";
import { serveHttp } from "../../broker/metrics/http.ts";
import { MetricsRegistry } from "../../broker/metrics/registry.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import { DEFAULT_TIMEOUT_MS, freePort, runProcess, withTimeout } from "../_helpers/process.ts";
import { parsePrometheus, sumOf } from "./_prom.ts";

async function withWsBroker(
  settings: { metrics?: boolean; dashboard?: boolean },
  fn: (port: number, broker: Broker) => Promise<void>,
): Promise<void> {
  const broker = new Broker({ connectionMessages: false });
  try {
    const [ws] = await broker.listen({
      port: 0,
      hostname: "127.0.0.1",
      protocol: "websockets",
      settings,
    });
    await fn(ws!.port, broker);
  } finally {
    await broker.close();
  }
}

Deno.test("A WebSocket listener without metrics or dashboard answers plain HTTP with 400", async () => {
  await withWsBroker({}, async (port) => {
    for (const path of ["/metrics", "/"]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 400, path);
    }
  });
});

Deno.test("metrics true serves GET /metrics in the Prometheus text format", async () => {
  await withWsBroker({ metrics: true }, async (port) => {
    const client = await withTimeout(
      mqtt.connectAsync(`ws://127.0.0.1:${port}/mqtt`, { clientId: "ws-1", reconnectPeriod: 0 }),
      DEFAULT_TIMEOUT_MS,
      "MQTT.js over WebSockets on the metrics port",
    );
    try {
      await client.publishAsync("a/b", "hello", { qos: 1 });
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(response.status, 200);
      assert.equal(
        response.headers.get("content-type"),
        "text/plain; version=0.0.4; charset=utf-8",
      );
      const text = await response.text();
      const families: [string, string][] = [
        ["midge_clients_connected", "gauge"],
        ["midge_messages_received_total", "counter"],
        ["midge_messages_sent_total", "counter"],
        ["midge_messages_dropped_total", "counter"],
        ["midge_connects_total", "counter"],
        ["midge_disconnects_total", "counter"],
        ["midge_process_resident_memory_bytes", "gauge"],
        ["midge_event_loop_delay_seconds", "histogram"],
        ["midge_build_info", "gauge"],
      ];
      for (const [name, type] of families) {
        assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
        assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), name);
      }
      const samples = parsePrometheus(text);
      assert.equal(sumOf(samples, "midge_clients_connected"), 1);
      assert.equal(
        sumOf(samples, "midge_messages_received_total", {
          qos: "1",
          listener: `websockets:${port}`,
        }),
        1,
      );
      assert.equal(sumOf(samples, "midge_build_info", { deno: Deno.version.deno }), 1);
      // Only /metrics: the dashboard is off.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      await page.body?.cancel();
      assert.equal(page.status, 404);
      const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" });
      await post.body?.cancel();
      assert.equal(post.status, 405);
    } finally {
      await client.endAsync();
    }
  });
});

Deno.test("promtool check metrics accepts midge's /metrics output", async () => {
  await withWsBroker({ metrics: true }, async (port, broker) => {
    // Something in every family that has labels.
    const { client } = await MemoryClient.connect(broker, { clientId: "x" });
    client.send({ type: "disconnect" });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const result = await runProcess("promtool", ["check", "metrics"], { stdin: text });
    const output = [...result.stdout, ...result.stderr].join("\n");
    // promtool exits 1 on lint problems (e.g. a counter without _total) and prints them.
    assert.equal(result.code, 0, output);
    assert.equal(output.trim(), "");
  });
});

Deno.test("dashboard true serves the embedded page, gzipped and revalidated by ETag", async () => {
  await withWsBroker({ dashboard: true }, async (port) => {
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    const html = await page.text();
    assert.equal(html, DASHBOARD_ASSETS["/"]?.body);
    assert.match(html, /<script type="module" src="app.js">/);
    for (const path of ["/app.js", "/style.css", "/index.html"]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 200, path);
    }
    const etag = page.headers.get("etag") ?? "";
    const again = await fetch(`http://127.0.0.1:${port}/`, { headers: { "if-none-match": etag } });
    await again.body?.cancel();
    assert.equal(again.status, 304);
    const missing = await fetch(`http://127.0.0.1:${port}/nope.js`);
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
    // /metrics is off on this listener.
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    await metrics.body?.cancel();
    assert.equal(metrics.status, 404);
    // MQTT over WebSockets on the same port.
    const client = await withTimeout(
      mqtt.connectAsync(`ws://127.0.0.1:${port}/mqtt`, { clientId: "ws-2", reconnectPeriod: 0 }),
      DEFAULT_TIMEOUT_MS,
      "MQTT.js over WebSockets on the dashboard port",
    );
    await client.endAsync();
  });
});

Deno.test("serveHttp() gzips dashboard files for clients that accept it", async () => {
  const response = await serveHttp(
    new Request("http://localhost/app.js", { headers: { "accept-encoding": "gzip, br" } }),
    { metrics: false, dashboard: true, registry: new MetricsRegistry() },
  );
  assert.equal(response.headers.get("content-encoding"), "gzip");
  const compressed = new Uint8Array(await response.arrayBuffer());
  const body = await new Response(
    new Blob([compressed]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).text();
  assert.equal(body, DASHBOARD_ASSETS["/app.js"]?.body);
  assert.ok(compressed.length < body.length / 2);
});

Deno.test("Config metrics and dashboard need a protocol websockets listener", () => {
  const config = parseConfig(
    "listener 8080 127.0.0.1\nprotocol websockets\nmetrics true\ndashboard true\n" +
      "listener 1883 127.0.0.1\n",
    { file: "test.conf" },
  );
  assert.deepEqual(
    config.listeners.map((l) => [l.port, l.metrics, l.dashboard]),
    [[8080, true, true], [1883, undefined, undefined]],
  );
  assert.throws(
    () => parseConfig("listener 1883\nmetrics true\n", { file: "test.conf" }),
    /Cannot use option "metrics" at test.conf:2: it needs "protocol websockets" on its listener \(test.conf:1\), which speaks mqtt/,
  );
});

Deno.test("Broker.applyConfig() turns /metrics on and off on a kept listener", async () => {
  const port = freePort();
  const conf = (metrics: boolean) =>
    parseConfig(
      `listener ${port} 127.0.0.1\nprotocol websockets\nmetrics ${metrics}\nallow_anonymous true\n`,
      { file: "test.conf" },
    );
  const broker = new Broker({ connectionMessages: false });
  try {
    await broker.applyConfig(conf(true));
    const on = await fetch(`http://127.0.0.1:${port}/metrics`);
    await on.body?.cancel();
    assert.equal(on.status, 200);
    await broker.applyConfig(conf(false));
    const off = await fetch(`http://127.0.0.1:${port}/metrics`);
    await off.body?.cancel();
    assert.equal(off.status, 400);
  } finally {
    await broker.close();
  }
});

Deno.test("broker/dashboard/assets.ts is what scripts/build-dashboard.ts builds from the sources", async () => {
  const script = new URL("../../scripts/build-dashboard.ts", import.meta.url).pathname;
  const result = await runProcess(Deno.execPath(), ["run", "-A", script, "--check"], {
    timeoutMs: 60_000,
  });
  assert.equal(result.code, 0, [...result.stdout, ...result.stderr].join("\n"));
});
