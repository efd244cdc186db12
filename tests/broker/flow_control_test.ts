/**
 * Flow control (section 4.9 and Mosquitto's limits): the in-flight window, queueing behind it,
 * the queue limit for online clients, and a client that stops reading, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodePacket } from "../../codec/packet.ts";
import type { ConnectPacket } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  connectionOf,
  expectNothing,
  nextMessage,
  puback,
  publish,
  publishPacket,
  sleep,
  subscribe,
  VERSIONS,
  withBroker,
} from "./_protocol.ts";

/** A client whose reads stall once `stalled` is set: its writes never complete. */
class StalledClient extends MemoryClient {
  stalled = false;

  override write(bytes: Uint8Array): Promise<void> {
    if (this.stalled) return new Promise(() => {});
    return super.write(bytes);
  }
}

Deno.test("Broker keeps at most maxInflightMessages (20) unacknowledged, in order, queueing the rest", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "win",
        // A v5 client may allow more; Mosquitto's max_inflight_messages still applies.
        ...(version === 5 ? { properties: { receiveMaximum: 100 } } : {}),
      });
      await subscribe(sub, "win", 1);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      for (let i = 0; i < 25; i++) await publish(pub, "win", `m${i}`, { qos: 1, packetId: 1 });
      const first = [];
      for (let i = 0; i < 20; i++) first.push(await nextMessage(sub));
      assert.deepEqual(first.map((m) => m.text), Array.from({ length: 20 }, (_, i) => `m${i}`));
      await expectNothing(sub, 30, `v${version}: window of 20 is full`);
      // [MQTT-4.6.0-6]: what was held back follows in order as acknowledgements free slots.
      for (const m of first.slice(0, 5)) puback(sub, m.packetId as number);
      const rest = [];
      for (let i = 0; i < 5; i++) rest.push((await nextMessage(sub)).text);
      assert.deepEqual(rest, ["m20", "m21", "m22", "m23", "m24"], `v${version}`);
    });
  }
});

Deno.test("Broker applies maxQueuedMessages behind a full in-flight window", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, { clientId: "q" });
    await subscribe(sub, "q", 1);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    for (let i = 0; i < 10; i++) await publish(pub, "q", `m${i}`, { qos: 1, packetId: 1 });
    const a = await nextMessage(sub);
    const b = await nextMessage(sub);
    await expectNothing(sub, 30, "window of 2");
    // 2 in flight + 3 queued; the other 5 are dropped (Mosquitto max_queued_messages).
    assert.equal(broker.stats.messagesDropped, 5);
    puback(sub, a.packetId as number);
    puback(sub, b.packetId as number);
    const texts = [];
    for (let i = 0; i < 3; i++) {
      const m = await nextMessage(sub);
      texts.push(m.text);
      puback(sub, m.packetId as number);
    }
    assert.deepEqual(texts, ["m2", "m3", "m4"]);
    await expectNothing(sub, 30, "the rest were dropped");
  }, { maxInflightMessages: 2, maxQueuedMessages: 3 });
});

Deno.test("Broker drops QoS 0 to a client that stopped reading without slowing the others", async () => {
  await withBroker(async (broker) => {
    const slow = new StalledClient(5);
    broker.handleTransport(slow);
    slow.send(
      {
        type: "connect",
        protocolName: "MQTT",
        protocolVersion: 5,
        clean: true,
        keepalive: 0,
        clientId: "slow",
      } satisfies ConnectPacket,
    );
    await slow.next("connack");
    await subscribe(slow, "flood");
    const { client: normal } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "normal",
    });
    await subscribe(normal, "flood");
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "p",
    });
    const slowConnection = connectionOf(broker, slow);
    slow.stalled = true;

    const payload = new Uint8Array(1024).fill(0x61);
    const messageBytes = encodePacket(publishPacket("flood", payload), 5).length;
    const total = 5000;
    let maxOutgoing = 0;
    let received = 0;
    for (let sent = 0; sent < total;) {
      // Batches, so that the normal client's own buffer drains between them as a socket would.
      for (let i = 0; i < 50; i++, sent++) pub.send(publishPacket("flood", payload));
      maxOutgoing = Math.max(maxOutgoing, slowConnection.outgoingBytes);
      await sleep(0);
      received += normal.inbox.splice(0).filter((p) => p.type === "publish").length;
    }
    while (received < total) {
      await nextMessage(normal);
      received++;
    }
    assert.equal(received, total);
    // The stalled client's messages were dropped, counted, and its buffer stayed bounded.
    assert.ok(broker.stats.messagesDropped > 0);
    assert.equal(slowConnection.droppedQos0, broker.stats.messagesDropped);
    assert.ok(
      maxOutgoing <= broker.options.maxOutgoingBytes + messageBytes,
      `outgoing ${maxOutgoing} > ${broker.options.maxOutgoingBytes} + ${messageBytes}`,
    );
    assert.ok(slowConnection.outgoingBytes <= broker.options.maxOutgoingBytes + messageBytes);
    assert.equal(slow.closed, false);
    slow.drop();
  });
});
