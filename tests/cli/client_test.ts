/**
 * {@linkcode MqttClient} in-process against Debian's Mosquitto 2.0: every protocol level, the QoS
 * 1/2 flows, keepalive, will, unsubscribe, Receive Maximum and refusals.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ConnectionRefusedError,
  MqttClient,
  type MqttClientOptions,
  MqttConnectionError,
  type ReceivedMessage,
} from "../../client/mod.ts";
import { runProcess, withTimeout } from "../_helpers/process.ts";
import { startMosquitto } from "./_mosquitto.ts";

const decoder = new TextDecoder();

function client(port: number, options: MqttClientOptions = {}): MqttClient {
  return new MqttClient({ hostname: "127.0.0.1", port, ...options });
}

/** The next `n` messages from an iterator, bounded in time. */
async function take(
  messages: AsyncIterableIterator<ReceivedMessage>,
  n: number,
): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  const read = (async () => {
    while (out.length < n) {
      const next = await messages.next();
      if (next.done) throw new Error(`Iterator ended after ${out.length} of ${n} messages`);
      out.push(next.value);
    }
    return out;
  })();
  return await withTimeout(read, 10_000, `${n} messages`);
}

for (const version of [3, 4, 5] as const) {
  Deno.test(`MqttClient at protocol level ${version} round-trips QoS 0, 1 and 2`, async () => {
    await using broker = await startMosquitto();
    await using c = client(broker.port, { protocolVersion: version });
    const connack = await c.connect();
    assert.equal(connack.reasonCode, 0);
    assert.ok(c.clientId.length > 0, "v5 gets an assigned identifier, 3.x a generated one");
    const messages = c.messages();
    const suback = await c.subscribe([{ topicFilter: "rt/#", qos: 2 }]);
    assert.deepEqual(suback.reasonCodes, [2]);
    const results = await Promise.all([
      c.publish("rt/0", "zero"),
      c.publish("rt/1", "one", { qos: 1 }),
      c.publish("rt/2", new Uint8Array([0, 255]), { qos: 2 }),
    ]);
    assert.deepEqual(results.map((r) => r.reasonCode), [0, 0, 0]);
    const got = await take(messages, 3);
    assert.deepEqual(got.map((m) => [m.topic, m.qos, m.payload.length]), [
      ["rt/0", 0, 4],
      ["rt/1", 1, 3],
      ["rt/2", 2, 2],
    ]);
    assert.equal(decoder.decode(got[1]!.payload), "one");
  });
}

Deno.test("MqttClient v5 carries PUBLISH properties and SUBSCRIBE options", async () => {
  await using broker = await startMosquitto();
  await using c = client(broker.port, { protocolVersion: 5 });
  await c.connect();
  const messages = c.messages();
  await c.subscribe([{ topicFilter: "props", qos: 1, noLocal: false, retainHandling: 0 }]);
  const result = await c.publish("props", "x", {
    qos: 1,
    properties: {
      userProperties: [["k", "v"], ["k", "w"]],
      contentType: "text/plain",
      correlationData: new Uint8Array([1, 2]),
    },
  });
  assert.equal(result.reasonCode, 0);
  const [message] = await take(messages, 1);
  assert.deepEqual(message!.properties?.userProperties, [["k", "v"], ["k", "w"]]);
  assert.equal(message!.properties?.contentType, "text/plain");
  assert.deepEqual(message!.properties?.correlationData, new Uint8Array([1, 2]));

  // No Local: our own message does not come back [MQTT-3.8.3-3].
  await c.subscribe([{ topicFilter: "self", noLocal: true }, "marker"]);
  await c.publish("self", "mine");
  await c.publish("marker", "m");
  const [next] = await take(messages, 1);
  assert.equal(next!.topic, "marker");
});

Deno.test("MqttClient v5 pipelines 200 QoS 1 publishes within a Receive Maximum of 5", async () => {
  await using broker = await startMosquitto(["max_inflight_messages 5"]);
  await using c = client(broker.port, { protocolVersion: 5 });
  await c.connect();
  const messages = c.messages();
  await c.subscribe([{ topicFilter: "flow", qos: 1 }]);
  const sent = Array.from({ length: 200 }, (_, i) => c.publish("flow", String(i), { qos: 1 }));
  const results = await Promise.all(sent);
  assert.equal(new Set(results.map((r) => r.packetId)).size > 1, true);
  const got = await take(messages, 200);
  assert.deepEqual(got.map((m) => decoder.decode(m.payload)), results.map((_, i) => String(i)));
  assert.equal(c.connected, true);
});

Deno.test("MqttClient unsubscribe() stops delivery on that filter only", async () => {
  await using broker = await startMosquitto();
  await using c = client(broker.port);
  await c.connect();
  const messages = c.messages();
  await c.subscribe(["u/a", "u/b"]);
  const unsuback = await c.unsubscribe(["u/a"]);
  assert.deepEqual(unsuback.reasonCodes, []);
  await c.publish("u/a", "gone", { qos: 1 });
  await c.publish("u/b", "still", { qos: 1 });
  const [message] = await take(messages, 1);
  assert.equal(message!.topic, "u/b");
});

Deno.test("MqttClient sends PINGREQ after a keepalive period without traffic", async () => {
  await using broker = await startMosquitto();
  const debug: string[] = [];
  let sawPong: () => void;
  const pong = new Promise<void>((resolve) => sawPong = resolve);
  await using c = client(broker.port, {
    keepalive: 1,
    debug: (line) => {
      debug.push(line);
      if (line.endsWith("received PINGRESP")) sawPong();
    },
  });
  await c.connect();
  await withTimeout(pong, 10_000, "PINGRESP");
  assert.ok(debug.some((line) => line.endsWith("sending PINGREQ")), debug.join("\n"));
  assert.equal(c.connected, true);
});

Deno.test("MqttClient close() without DISCONNECT makes the broker publish the will", async () => {
  await using broker = await startMosquitto();
  await using watcher = client(broker.port, { protocolVersion: 5 });
  await watcher.connect();
  const messages = watcher.messages();
  await watcher.subscribe([{ topicFilter: "will/#", qos: 1 }]);
  const dying = client(broker.port, {
    protocolVersion: 5,
    will: {
      topic: "will/dying",
      payload: new TextEncoder().encode("gone"),
      qos: 1,
      retain: false,
      properties: { contentType: "text/plain" },
    },
  });
  await dying.connect();
  dying.close();
  assert.equal(await dying.closed, undefined);
  const [will] = await take(messages, 1);
  assert.equal(will!.topic, "will/dying");
  assert.equal(decoder.decode(will!.payload), "gone");
  assert.equal(will!.properties?.contentType, "text/plain");
});

Deno.test("MqttClient connect() rejects with ConnectionRefusedError or MqttConnectionError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "midge_cli_passwd_" });
  try {
    const passwd = `${dir}/passwd`;
    const made = await runProcess("mosquitto_passwd", ["-b", "-c", passwd, "alice", "secret"]);
    assert.equal(made.code, 0, made.stderr.join("\n"));
    await using broker = await startMosquitto([
      "allow_anonymous false",
      `password_file ${passwd}`,
    ]);
    const ok = client(broker.port, { username: "alice", password: "secret" });
    await ok.connect();
    await ok.disconnect();
    assert.equal(await ok.closed, undefined);

    const wrong = client(broker.port, { username: "alice", password: "nope" });
    const refused = await wrong.connect().catch((e) => e);
    assert.ok(refused instanceof ConnectionRefusedError);
    assert.equal(refused.reasonCode, 5);
    const wrong5 = client(broker.port, { username: "alice", password: "nope", protocolVersion: 5 });
    const refused5 = await wrong5.connect().catch((e) => e);
    assert.ok(refused5 instanceof ConnectionRefusedError);
    // Mosquitto 2.0 answers a wrong password with Not authorized, in 3.1.1 and 5.0 alike.
    assert.equal(refused5.reasonCode, 0x87);
    assert.equal(refused5.message, "Not authorized");

    const port = broker.port;
    await broker.close();
    const absent = await client(port).connect().catch((e) => e);
    assert.ok(absent instanceof MqttConnectionError);
    assert.equal(absent.message, "Connection refused");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MqttClient rejects pending publishes and ends messages() when the broker goes away", async () => {
  await using broker = await startMosquitto();
  await using c = client(broker.port);
  await c.connect();
  const messages = c.messages();
  await broker.close();
  const reason = await withTimeout(c.closed, 10_000, "connection loss");
  assert.ok(reason instanceof MqttConnectionError, String(reason));
  await assert.rejects(messages.next(), MqttConnectionError);
  await assert.rejects(c.publish("a", "b", { qos: 1 }), MqttConnectionError);
});
