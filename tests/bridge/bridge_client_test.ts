/**
 * Mosquitto's bridge bit (`try_private`): the codec reads and writes it, and the broker treats a
 * client that sets it as Mosquitto treats bridges.
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import { decodeConnect, encodeConnect } from "../../codec/connect.ts";
import { CodecError } from "../../codec/codec_error.ts";
import type { ConnectPacket, PublishPacket } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

Deno.test("encodeConnect() sets the bridge bit in the protocol level and decodeConnect() reads it back", () => {
  const packet: ConnectPacket = {
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: false,
    keepalive: 60,
    clientId: "pi",
    bridge: true,
  };
  const bytes = encodeConnect(packet);
  assert.equal(
    hex(bytes),
    [
      "10 0e", // CONNECT, remaining length 14
      "00 04 4d 51 54 54", // "MQTT"
      "84", // protocol level 4 with Mosquitto's bridge bit 0x80
      "00", // flags: clean session 0
      "00 3c", // keep alive 60
      "00 02 70 69", // client id "pi"
    ].join(" "),
  );
  assert.deepStrictEqual(decodeConnect(bytes.subarray(2)), packet);
});

Deno.test("decodeConnect() reads an MQTT 3.1 bridge (level 0x83) and leaves bridge unset without the bit", () => {
  const v31 = encodeConnect({
    type: "connect",
    protocolName: "MQIsdp",
    protocolVersion: 3,
    clean: true,
    keepalive: 10,
    clientId: "b",
    bridge: true,
  });
  assert.equal(v31[10], 0x83);
  const decoded = decodeConnect(v31.subarray(2));
  assert.equal(decoded.protocolVersion, 3);
  assert.equal(decoded.bridge, true);
  const plain = encodeConnect({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: true,
    keepalive: 10,
    clientId: "b",
  });
  assert.equal("bridge" in decodeConnect(plain.subarray(2)), false);
});

Deno.test("decodeConnect() still refuses an unknown level with the bridge bit (0x86) as unsupported", () => {
  const bytes = encodeConnect({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: true,
    keepalive: 10,
    clientId: "b",
  });
  bytes[8] = 0x86;
  assert.throws(() => decodeConnect(bytes.subarray(2)), (error) => {
    assert.ok(error instanceof CodecError);
    assert.equal(error.reasonCode, 0x84);
    return true;
  });
});

function publish(topic: string, payload: string, retain = false): PublishPacket {
  return {
    type: "publish",
    topic,
    payload: new TextEncoder().encode(payload),
    qos: 1,
    retain,
    dup: false,
    packetId: 7,
  };
}

Deno.test("Broker accepts a Mosquitto bridge (try_private) and never sends it its own messages back", async () => {
  const broker = new Broker();
  try {
    const { client: bridge, connack } = await MemoryClient.connect(broker, {
      clientId: "hub.pi",
      clean: false,
      bridge: true,
    });
    assert.equal(connack.reasonCode, 0);
    bridge.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        topicFilter: "#",
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    await bridge.next("suback");
    // Its own message is acknowledged but not echoed back: the loop of two bridged brokers ends.
    bridge.send(publish("house/temp", "21", true));
    assert.equal((await bridge.next("puback")).packetId, 7);
    assert.deepStrictEqual(await bridge.settle(), []);
    // Someone else's message reaches it, with RETAIN as published, as Mosquitto sends bridges.
    const { client: other } = await MemoryClient.connect(broker, { clientId: "sensor" });
    other.send(publish("house/hum", "40", true));
    await other.next("puback");
    const received = await bridge.next("publish");
    assert.equal(received.topic, "house/hum");
    assert.equal(received.retain, true);
    other.close();
    bridge.close();
  } finally {
    await broker.close();
  }
});

Deno.test("Broker treats an ordinary MQTT 3.1.1 client as before: its own messages come back", async () => {
  const broker = new Broker();
  try {
    const { client } = await MemoryClient.connect(broker, { clientId: "plain" });
    client.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        topicFilter: "#",
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    await client.next("suback");
    client.send(publish("house/temp", "21", true));
    const packets = [await client.next(), await client.next()].map((p) => p.type).sort();
    assert.deepStrictEqual(packets, ["puback", "publish"]);
    client.close();
  } finally {
    await broker.close();
  }
});
