/**
 * MQTT.js clients against the broker over TCP (`mqtt://`) and WebSockets (`ws://`), MQTT 3.1.1
 * and 5.0: connect, subscribe, publish at QoS 0/1/2, receive, end.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import { startBroker, type TestBroker } from "../_helpers/broker.ts";
import { DEFAULT_TIMEOUT_MS, waitUntil, withTimeout } from "../_helpers/process.ts";

type Transport = "tcp" | "ws";

function url(broker: TestBroker, transport: Transport): string {
  return transport === "tcp"
    ? `mqtt://127.0.0.1:${broker.port}`
    : `ws://127.0.0.1:${broker.wsPort}`;
}

/** A connected client that records what it receives; dispose it to end it. */
interface RecordingClient extends AsyncDisposable {
  client: MqttClient;
  received: IPublishPacket[];
  /** Errors and unexpected closes, which no test here expects. */
  problems: string[];
}

async function connect(
  broker: TestBroker,
  transport: Transport,
  protocolVersion: 4 | 5,
  clientId: string,
): Promise<RecordingClient> {
  const options: IClientOptions = {
    protocolVersion,
    clientId,
    // A dropped connection must fail the test, not be papered over by a reconnect.
    reconnectPeriod: 0,
    connectTimeout: DEFAULT_TIMEOUT_MS,
  };
  const client = await withTimeout(
    mqtt.connectAsync(url(broker, transport), options),
    DEFAULT_TIMEOUT_MS,
    `MQTT.js ${clientId} connecting`,
  );
  const received: IPublishPacket[] = [];
  const problems: string[] = [];
  let ending = false;
  client.on("message", (_topic, _payload, packet) => received.push(packet));
  client.on("error", (error) => problems.push(`error: ${error.message}`));
  client.on("close", () => {
    if (!ending) problems.push("closed by the broker");
  });
  return {
    client,
    received,
    problems,
    async [Symbol.asyncDispose]() {
      ending = true;
      await withTimeout(client.endAsync(), DEFAULT_TIMEOUT_MS, `MQTT.js ${clientId} ending`);
    },
  };
}

const COMBINATIONS = [
  ["tcp", 4],
  ["tcp", 5],
  ["ws", 4],
  ["ws", 5],
] as const;

Deno.test("MQTT.js over TCP and WebSockets, MQTT 3.1.1 and 5: publish/subscribe at QoS 0, 1, 2", async (t) => {
  await using broker = await startBroker();

  for (const [transport, version] of COMBINATIONS) {
    await t.step(`${transport} v${version}`, async () => {
      const name = `mqttjs-${transport}-v${version}`;
      await using sub = await connect(broker, transport, version, `${name}-sub`);
      await using pub = await connect(broker, transport, version, `${name}-pub`);

      const granted = await sub.client.subscribeAsync(`${name}/#`, { qos: 2 });
      assert.deepEqual(granted.map((g) => g.qos), [2]);

      // publishAsync resolves once PUBACK (QoS 1) or PUBCOMP (QoS 2) has arrived.
      for (const qos of [0, 1, 2] as const) {
        await pub.client.publishAsync(`${name}/q${qos}`, `payload at QoS ${qos}`, { qos });
      }
      await waitUntil(() => sub.received.length >= 3, `${name} receiving three messages`);

      assert.deepEqual(
        sub.received.map((p) => [p.topic, p.payload.toString(), p.qos, p.retain]),
        [0, 1, 2].map((qos) => [`${name}/q${qos}`, `payload at QoS ${qos}`, qos, false]),
      );
      assert.deepEqual([...sub.problems, ...pub.problems], []);
    });
  }

  await t.step("TCP v3.1.1 publisher → WebSocket v5 subscriber and back", async () => {
    await using tcp = await connect(broker, "tcp", 4, "mqttjs-cross-tcp");
    await using ws = await connect(broker, "ws", 5, "mqttjs-cross-ws");
    await tcp.client.subscribeAsync("cross/to-tcp", { qos: 1 });
    await ws.client.subscribeAsync("cross/to-ws", { qos: 1 });
    await tcp.client.publishAsync("cross/to-ws", "from tcp", { qos: 1 });
    await ws.client.publishAsync("cross/to-tcp", "from ws", { qos: 2 });
    await waitUntil(
      () => tcp.received.length >= 1 && ws.received.length >= 1,
      "a message each way",
    );
    assert.deepEqual(ws.received.map((p) => [p.topic, p.payload.toString(), p.qos]), [[
      "cross/to-ws",
      "from tcp",
      1,
    ]]);
    // Delivered at the minimum of the published QoS 2 and the granted QoS 1.
    assert.deepEqual(tcp.received.map((p) => [p.topic, p.payload.toString(), p.qos]), [[
      "cross/to-tcp",
      "from ws",
      1,
    ]]);
    assert.deepEqual([...tcp.problems, ...ws.problems], []);
  });
});
