/**
 * Deno's built-in OpenTelemetry (`OTEL_DENO=true`) exports midge's metrics over OTLP: the
 * `midge` command runs with an OTLP/HTTP JSON endpoint pointing at a receiver in this test.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_TIMEOUT_MS,
  delay,
  freePort,
  spawnProcess,
  withTimeout,
} from "../_helpers/process.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** A data point of an OTLP JSON metric. */
interface DataPoint {
  asInt?: string | number;
  asDouble?: number;
  attributes?: { key: string; value: { stringValue?: string } }[];
}

interface OtlpMetric {
  name: string;
  gauge?: { dataPoints: DataPoint[] };
  sum?: { dataPoints: DataPoint[]; isMonotonic?: boolean };
}

interface OtlpExport {
  resourceMetrics?: { scopeMetrics?: { scope?: { name?: string }; metrics?: OtlpMetric[] }[] }[];
}

function value(point: DataPoint): number {
  return point.asDouble ?? Number(point.asInt ?? NaN);
}

Deno.test("OTEL_DENO=true exports midge's metrics to an OTLP collector", async () => {
  const received: OtlpMetric[][] = [];
  const collector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      if (new URL(request.url).pathname === "/v1/metrics") {
        const body = await request.json() as OtlpExport;
        const metrics: OtlpMetric[] = [];
        for (const resource of body.resourceMetrics ?? []) {
          for (const scope of resource.scopeMetrics ?? []) {
            if (scope.scope?.name === "midge") metrics.push(...scope.metrics ?? []);
          }
        }
        if (metrics.length > 0) received.push(metrics);
      } else {
        await request.body?.cancel();
      }
      return Response.json({});
    },
  );
  const dir = await Deno.makeTempDir({ prefix: "midge_otel_" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/midge.conf`,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_type error\n`,
  );
  const midge = spawnProcess(Deno.execPath(), ["run", "-A", MAIN, "-c", `${dir}/midge.conf`], {
    env: {
      OTEL_DENO: "true",
      OTEL_SERVICE_NAME: "midge",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
      OTEL_METRIC_EXPORT_INTERVAL: "500",
    },
  });
  let client: mqtt.MqttClient | undefined;
  try {
    const deadline = Date.now() + DEFAULT_TIMEOUT_MS;
    while (!client) {
      try {
        client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: "otel-1",
          reconnectPeriod: 0,
        });
      } catch (error) {
        if (Date.now() > deadline || midge.exited) throw error;
        await delay(100);
      }
    }
    await client.publishAsync("otel/test", "1", { qos: 1 });
    const find = (name: string) => {
      for (const batch of received.toReversed()) {
        const metric = batch.find((m) => m.name === name);
        if (metric) return metric;
      }
      return undefined;
    };
    await withTimeout(
      (async () => {
        while (
          find("midge_clients_connected")?.gauge?.dataPoints.some((p) => value(p) === 1) !== true
        ) {
          await delay(100);
        }
      })(),
      DEFAULT_TIMEOUT_MS,
      "an OTLP export with midge_clients_connected = 1",
    );
    let sent: OtlpMetric | undefined;
    await withTimeout(
      (async () => {
        for (;;) {
          sent = find("midge_messages_received");
          const points = sent?.sum?.dataPoints ?? [];
          if (points.some((p) => value(p) === 1)) return;
          await delay(100);
        }
      })(),
      DEFAULT_TIMEOUT_MS,
      "an OTLP export with midge_messages_received = 1",
    );
    // A counter becomes a monotonic sum with the same labels as in Prometheus.
    assert.equal(sent?.sum?.isMonotonic, true);
    const point = sent?.sum?.dataPoints.find((p) => value(p) === 1);
    const qos = point?.attributes?.find((a) => a.key === "qos")?.value.stringValue;
    assert.equal(qos, "1");
    assert.ok(find("midge_build_info"), "midge_build_info exported");
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${midge.describeOutput()}`);
  } finally {
    await client?.endAsync();
    await midge.close();
    await collector.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
