/**
 * Real Prometheus (Debian's `prometheus`) scraping midge every second: after three clients
 * connect and publish, its query API returns the client and message series midge counted.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { Broker } from "../../broker/broker.ts";
import { VERSION } from "../../broker/version.ts";
import {
  DEFAULT_TIMEOUT_MS,
  delay,
  freePort,
  spawnProcess,
  withTimeout,
} from "../_helpers/process.ts";

/** Runs a PromQL instant query; returns label sets and values of the result vector. */
async function query(
  port: number,
  promql: string,
): Promise<{ metric: Record<string, string>; value: number }[]> {
  const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`;
  const body = await (await fetch(url)).json() as {
    status: string;
    data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== "success" || !body.data) {
    throw new Error(`Query "${promql}" failed: ${JSON.stringify(body)}`);
  }
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Polls `promql` until `accept` holds for its result; fails with the last result. */
async function eventually(
  port: number,
  promql: string,
  accept: (result: { metric: Record<string, string>; value: number }[]) => boolean,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last: unknown = "no answer";
  while (Date.now() < deadline) {
    try {
      const result = await query(port, promql);
      if (accept(result)) return;
      last = result;
    } catch (error) {
      last = error;
    }
    await delay(250);
  }
  throw new Error(
    `Prometheus never answered "${promql}" as expected; last: ${JSON.stringify(last)}`,
  );
}

Deno.test("Prometheus scraping /metrics every second sees 3 clients and their messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "midge_prometheus_" });
  const broker = new Broker({ connectionMessages: false });
  const clients: MqttClient[] = [];
  const [tcp] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
  const [ws] = await broker.listen({
    port: 0,
    hostname: "127.0.0.1",
    protocol: "websockets",
    settings: { metrics: true },
  });
  const promPort = freePort();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: midge",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${ws!.port}"]`,
      "",
    ].join("\n"),
  );
  const prometheus = spawnProcess("prometheus", [
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    "--log.level=warn",
  ]);
  try {
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    for (const clientId of ["kitchen", "hall", "garage"]) {
      clients.push(
        await withTimeout(
          mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 }),
          DEFAULT_TIMEOUT_MS,
          `MQTT.js ${clientId} connecting`,
        ),
      );
    }
    await clients[0]!.subscribeAsync("house/#", { qos: 1 });
    for (const [n, client] of clients.entries()) {
      for (let i = 0; i < 4; i++) await client.publishAsync(`house/${n}`, `${i}`, { qos: 1 });
      for (let i = 0; i < 2; i++) await client.publishAsync(`house/${n}`, `${i}`, { qos: 0 });
    }

    await eventually(promPort, 'up{job="midge"}', (r) => r[0]?.value === 1);
    await eventually(promPort, "midge_clients_connected", (r) => r[0]?.value === 3);
    const byQos = "sum by (qos) (midge_messages_received_total)";
    await eventually(promPort, byQos, (r) => {
      const values = Object.fromEntries(r.map((s) => [s.metric.qos, s.value]));
      return values["0"] === 6 && values["1"] === 12 && values["2"] === 0;
    });
    await eventually(
      promPort,
      'sum(midge_messages_sent_total{qos="1"})',
      (r) => r[0]?.value === 12,
    );
    const connects = await query(promPort, 'midge_connects_total{result="accepted"}');
    assert.equal(connects[0]?.value, 3);
    const build = await query(promPort, "midge_build_info");
    assert.equal(build[0]?.metric.version, VERSION);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${prometheus.describeOutput()}`);
  } finally {
    await Promise.all(clients.map((client) => client.endAsync()));
    await prometheus.close();
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
