/**
 * Errors a client makes and how the broker ends the connection (sections 4.8.0 of 3.1.1, 4.13 of
 * 5.0): malformed packets, protocol errors, packets over the size limit, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Packet } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import { expectNothing, publishPacket, subscribe, VERSIONS, withBroker } from "./_protocol.ts";

function disconnectCodes(packets: Packet[]): (number | undefined | string)[] {
  return packets.map((p) => p.type === "disconnect" ? p.reasonCode : p.type);
}

/** A SUBSCRIBE to "a" with its fixed header flags 0b0000 instead of the required 0b0010. */
function badFlagsSubscribe(version: number): Uint8Array {
  return version === 5
    ? new Uint8Array([0x80, 7, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00])
    : new Uint8Array([0x80, 6, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]);
}

Deno.test("Broker closes on a malformed packet: v5 DISCONNECT 0x81, 3.1.1 just closes", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "bad",
      });
      client.sendBytes(badFlagsSubscribe(version));
      const got = await client.closedByBroker();
      // [MQTT-2.1.3-1] / section 4.13: reserved flags wrong → Malformed Packet; v5 is told
      // [MQTT-4.13.1-1] and 3.1.1 is closed without a word [MQTT-4.8.0-1].
      assert.deepEqual(disconnectCodes(got), version === 5 ? [0x81] : [], `v${version}`);
      assert.equal(broker.subscriptions.size, 0);
    });
  }
});

Deno.test("Broker closes on a PUBLISH with QoS 3 (malformed)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "q3",
      });
      // PUBLISH, QoS bits 11, topic "t", packet id 1 (+ empty properties for v5).
      client.sendBytes(
        version === 5
          ? new Uint8Array([0x36, 6, 0x00, 0x01, 0x74, 0x00, 0x01, 0x00])
          : new Uint8Array([0x36, 5, 0x00, 0x01, 0x74, 0x00, 0x01]),
      );
      // [MQTT-3.3.1-4]: QoS 3 is a Malformed Packet.
      const got = await client.closedByBroker();
      assert.deepEqual(disconnectCodes(got), version === 5 ? [0x81] : [], `v${version}`);
    });
  }
});

Deno.test("Broker closes on a packet only a server may send (v5 DISCONNECT 0x82)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "srv",
      });
      client.send({ type: "suback", packetId: 1, reasonCodes: [0] });
      // Section 3.9: SUBACK goes from server to client; from a client it is a Protocol Error.
      const got = await client.closedByBroker();
      assert.deepEqual(disconnectCodes(got), version === 5 ? [0x82] : [], `v${version}`);
    });
  }
});

Deno.test("Broker closes on a client PUBLISH with a Subscription Identifier (0x82)", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "si" });
    client.send(publishPacket("t", "x", { properties: { subscriptionIdentifiers: [1] } }));
    // [MQTT-3.3.4-6]: only the server sends Subscription Identifiers in PUBLISH.
    assert.deepEqual(disconnectCodes(await client.closedByBroker()), [0x82]);
  });
});

Deno.test("Broker closes on a PUBLISH topic with wildcards (v5 DISCONNECT 0x90)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      await subscribe(sub, "#");
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "wild",
      });
      // PUBLISH QoS 0, topic "a/+" (+ empty properties for v5), payload "x".
      client.sendBytes(
        version === 5
          ? new Uint8Array([0x30, 7, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x00, 0x78])
          : new Uint8Array([0x30, 6, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x78]),
      );
      // [MQTT-3.3.2-2]: no wildcards in a Topic Name; v5 reason 0x90 Topic Name invalid.
      const got = await client.closedByBroker();
      assert.deepEqual(disconnectCodes(got), version === 5 ? [0x90] : [], `v${version}`);
      await expectNothing(sub, 20, `v${version}: nothing routed`);
    });
  }
});

Deno.test("Broker closes on a packet over maxPacketSize (v5 DISCONNECT 0x95)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client, connack } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "big",
      });
      // Section 3.2.2.3.6: the limit is announced to v5 clients.
      if (version === 5) assert.equal(connack.properties?.maximumPacketSize, 100);
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      await subscribe(sub, "big");
      client.send(publishPacket("big", "x".repeat(50)));
      client.send(publishPacket("big", "x".repeat(200)));
      // [MQTT-3.2.2-15] (v5 servers may enforce their maximum): 0x95 Packet too large.
      const got = await client.closedByBroker();
      assert.deepEqual(disconnectCodes(got), version === 5 ? [0x95] : [], `v${version}`);
      const small = await sub.next("publish");
      assert.equal(small.payload.length, 50);
      await expectNothing(sub, 20, `v${version}: the large one is not routed`);
    }, { maxPacketSize: 100 });
  }
});

Deno.test("Broker ignores bytes after the packet that ended a connection", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sub, "after");
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "c" });
    const publishAfter = [0x30, 8, 0x00, 0x05, 0x61, 0x66, 0x74, 0x65, 0x72, 0x00];
    // A malformed SUBSCRIBE and a valid PUBLISH in the same chunk: the PUBLISH must not be routed,
    // the stream cannot be trusted after a malformed packet [MQTT-4.13.1-1].
    client.sendBytes(new Uint8Array([...badFlagsSubscribe(5), ...publishAfter]));
    assert.deepEqual(disconnectCodes(await client.closedByBroker()), [0x81]);
    await expectNothing(sub, 20);
  });
});

Deno.test("Broker refuses a payload over messageSizeLimit without closing (v5 0x97)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      await subscribe(sub, "lim", 1);
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "pub",
      });
      client.send(publishPacket("lim", "x".repeat(11), { qos: 1, packetId: 1 }));
      const ack = await client.next("puback");
      // Mosquitto's message_size_limit: the message is dropped; a v5 publisher learns it from a
      // failure reason code (0x97 Quota exceeded is one a PUBACK may carry, section 3.4.2.1).
      assert.equal(ack.reasonCode, version === 5 ? 0x97 : undefined);
      client.send(publishPacket("lim", "x".repeat(10), { qos: 1, packetId: 2 }));
      await client.next("puback");
      assert.equal((await sub.next("publish")).payload.length, 10, `v${version}`);
      await expectNothing(sub, 20, `v${version}: the large one is not routed`);
      assert.equal(client.closed, false);
    }, { messageSizeLimit: 10 });
  }
});
