/**
 * Measures a bridge's forwarding rate, local fan-in at QoS 1 to a remote broker, for midge's
 * bridge and for Mosquitto's own bridge, in one run on this machine. Not a test (no thresholds):
 *
 *     deno run -A tests/bridge/_forwarding_rate.ts [PUBLISHERS] [MESSAGES_EACH] [ROUNDS]
 *
 * The remote is Debian's Mosquitto in both cases; the local broker is `midge` (the command, in
 * its own process) or `mosquitto`, each with `topic bench/# out 1` and default limits
 * (max_inflight_messages 20) but no queue limit. PUBLISHERS clients publish MESSAGES_EACH QoS 1 messages each to the
 * local broker, 100 unacknowledged at most per client; the rate is messages received by a QoS 1
 * subscriber on the remote per second, from the first publish to the last message.
 *
 * @module
 */

import { MqttClient } from "../../client/client.ts";
import { freePort, spawnProcess, waitUntil } from "../_helpers/process.ts";
import { startMosquittoOn } from "./_bridge.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const publishers = Number(Deno.args[0] ?? 8);
const each = Number(Deno.args[1] ?? 2500);
const rounds = Number(Deno.args[2] ?? 2);
const total = publishers * each;
const WINDOW = 100;

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

async function measure(kind: "midge" | "mosquitto", dir: string): Promise<number> {
  const remotePort = freePort();
  const localPort = freePort();
  await using _remote = await startMosquittoOn(remotePort, dir, ["max_queued_messages 0"]);
  const bridge = [
    "connection remote",
    `address 127.0.0.1:${remotePort}`,
    `remote_clientid bench-${kind}`,
    "cleansession true",
    "topic bench/# out 1",
  ];
  // No queue limit on either side: the bridge's queue grows while the uplink catches up, and
  // a dropped message would end the measurement.
  const limits = ["max_queued_messages 0"];
  let local: { close(): Promise<void> };
  if (kind === "midge") {
    const config = `${dir}/midge-${localPort}.conf`;
    await Deno.writeTextFile(
      config,
      [`listener ${localPort} 127.0.0.1`, "allow_anonymous true", ...limits, ...bridge].join("\n") +
        "\n",
    );
    const child = spawnProcess(Deno.execPath(), ["run", "-A", "--quiet", MAIN, "-c", config]);
    await waitForPort(localPort);
    local = child;
  } else {
    const mosquitto = await startMosquittoOn(localPort, dir, [...limits, ...bridge]);
    local = { close: () => mosquitto.stop() };
  }
  try {
    const subscriber = new MqttClient({ hostname: "127.0.0.1", port: remotePort });
    let received = 0;
    subscriber.onMessage(() => received++);
    await subscriber.connect();
    await subscriber.subscribe([{ topicFilter: "bench/#", qos: 1 }]);
    // The bridge is up once a probe message makes it through.
    const probe = new MqttClient({ hostname: "127.0.0.1", port: localPort });
    await probe.connect();
    await waitUntil(
      () => {
        probe.publish("bench/probe", "p", { qos: 1 });
        return received > 0;
      },
      "the bridge to carry a probe",
      30_000,
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await probe.disconnect();
    received = 0;

    const clients = await Promise.all(
      Array.from({ length: publishers }, async () => {
        const client = new MqttClient({ hostname: "127.0.0.1", port: localPort });
        await client.connect();
        return client;
      }),
    );
    const payload = new Uint8Array(64);
    const started = performance.now();
    await Promise.all(clients.map(async (client, c) => {
      for (let sent = 0; sent < each; sent += WINDOW) {
        const batch = [];
        for (let i = sent; i < Math.min(each, sent + WINDOW); i++) {
          batch.push(client.publish(`bench/${c}`, payload, { qos: 1 }));
        }
        await Promise.all(batch);
      }
    }));
    await waitUntil(() => received >= total, `all ${total} at the remote`, 120_000, 5).catch(
      (error) => {
        throw new Error(`${kind}: ${received} of ${total} arrived: ${error.message}`);
      },
    );
    const seconds = (performance.now() - started) / 1000;
    for (const client of clients) await client.disconnect();
    await subscriber.disconnect();
    return total / seconds;
  } finally {
    await local.close();
  }
}

const dir = await Deno.makeTempDir({ prefix: "midge_bridge_rate_" });
try {
  console.log(
    `${publishers} publishers x ${each} QoS 1 messages (64 bytes) -> local broker -> bridge -> Mosquitto`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const kind of ["midge", "mosquitto"] as const) {
      const rate = await measure(kind, dir);
      console.log(`round ${round} ${kind.padEnd(9)} bridge: ${Math.round(rate)} msg/s`);
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
