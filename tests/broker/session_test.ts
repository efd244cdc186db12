/**
 * Session state (section 4.1): clean session / clean start, v5 Session Expiry Interval, persistent
 * subscriptions, offline queueing and in-flight redelivery, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ProtocolVersion } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  publish,
  publishPacket,
  subscribe,
  VERSIONS,
  waitFor,
  withBroker,
} from "./_protocol.ts";

/** CONNECT fields for a session that outlives its connection at `version`. */
function persistent(version: ProtocolVersion) {
  return version === 5
    ? { protocolVersion: version, clean: false, properties: { sessionExpiryInterval: 60 } }
    : { protocolVersion: version, clean: false };
}

function disconnect(client: MemoryClient, properties?: { sessionExpiryInterval: number }): void {
  client.send({
    type: "disconnect",
    ...(client.version === 5 ? { reasonCode: 0 } : {}),
    ...(properties ? { properties } : {}),
  });
}

Deno.test("Broker discards the session of a clean session / clean start client", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "c",
        clean: true,
      });
      await subscribe(client, "clean/t", 1);
      disconnect(client);
      await client.closedByBroker();
      // [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (v5, expiry 0): the session ends with the connection.
      assert.equal(broker.sessions.has("c"), false, `v${version}`);
      assert.equal(broker.subscriptions.size, 0, `v${version}`);

      const { client: again, connack } = await MemoryClient.connect(broker, {
        clientId: "c",
        ...persistent(version),
      });
      assert.equal(connack.sessionPresent, false, `v${version}`);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "clean/t", "x", { qos: 1 });
      await expectNothing(again, 30, `v${version}: the old subscription is gone`);
    });
  }
});

Deno.test("Broker ends a v5 session without Session Expiry Interval even with clean start 0", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "c",
      clean: false,
    });
    await subscribe(client, "t", 1);
    client.drop();
    await client.closedByBroker();
    // [MQTT-3.1.2-11..]: an absent Session Expiry Interval is 0: the session ends on close.
    assert.equal(broker.sessions.has("c"), false);
    const { connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "c",
      clean: false,
    });
    assert.equal(connack.sessionPresent, false);
  });
});

Deno.test("Broker keeps subscriptions of a persistent session across reconnects", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        clientId: "p",
        ...persistent(version),
      });
      await subscribe(client, ["keep/+", "other/#"], 1);
      client.drop();
      await client.closedByBroker();
      const { client: again, connack } = await MemoryClient.connect(broker, {
        clientId: "p",
        ...persistent(version),
      });
      assert.equal(connack.sessionPresent, true, `v${version}`);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "keep/a", "1", { qos: 1 });
      await publish(pub, "other/x/y", "2", { qos: 1 });
      // [MQTT-4.1.0-1]: the subscriptions are part of the session state.
      const a = await nextMessage(again);
      const b = await nextMessage(again);
      assert.deepEqual([a.topic, a.qos, b.topic, b.qos], ["keep/a", 1, "other/x/y", 1]);
    });
  }
});

Deno.test("Broker expires a v5 session after its Session Expiry Interval", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "exp",
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await subscribe(client, "exp/t", 1);
    client.drop();
    await client.closedByBroker();
    // Still there right after the connection ends [MQTT-3.1.2-23]...
    assert.equal(broker.sessions.has("exp"), true);
    // ...and gone once the interval has passed (the broker checks once a second).
    await waitFor(() => !broker.sessions.has("exp"), "the session to expire");
    assert.equal(broker.subscriptions.size, 0);
    const { connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "exp",
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    assert.equal(connack.sessionPresent, false);
  });
});

Deno.test("Broker applies a Session Expiry Interval changed at DISCONNECT", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "chg",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    disconnect(client, { sessionExpiryInterval: 0 });
    await client.closedByBroker();
    // Section 3.14.2.2.2: 60 → 0 at DISCONNECT ends the session with the connection.
    assert.equal(broker.sessions.has("chg"), false);

    const { client: c2 } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "chg2",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    disconnect(c2, { sessionExpiryInterval: 3600 });
    await c2.closedByBroker();
    assert.equal(broker.sessions.get("chg2")?.expiryInterval, 3600);
  });
});

Deno.test("Broker rejects a Session Expiry Interval set at DISCONNECT after 0 at CONNECT (0x82)", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "zero",
      clean: false,
    });
    disconnect(client, { sessionExpiryInterval: 30 });
    // [MQTT-3.14.2-2]: Protocol Error; the server answers with DISCONNECT 0x82.
    const got = await client.closedByBroker();
    assert.equal(got.length, 1);
    assert.equal(got[0]?.type === "disconnect" && got[0].reasonCode, 0x82);
    // The session does not survive on the interval the client was not allowed to set.
    assert.equal(broker.sessions.has("zero"), false);
  });
});

Deno.test("Broker queues QoS 1 and 2 (not QoS 0) for an offline persistent session", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        clientId: "off",
        ...persistent(version),
      });
      await subscribe(client, "off/#", 2);
      client.drop();
      await client.closedByBroker();
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "off/0", "zero", { qos: 0 });
      await publish(pub, "off/1", "one", { qos: 1 });
      await publish(pub, "off/2", "two", { qos: 2 });
      const { client: again } = await MemoryClient.connect(broker, {
        clientId: "off",
        ...persistent(version),
      });
      // [MQTT-3.1.2-5] / section 4.1: QoS 1 and 2 are stored; QoS 0 only by option (Mosquitto's
      // queue_qos0_messages, off by default).
      const a = await nextMessage(again);
      const b = await nextMessage(again);
      assert.deepEqual([a.text, a.qos, b.text, b.qos], ["one", 1, "two", 2], `v${version}`);
      await expectNothing(again, 30, `v${version}: QoS 0 was not queued`);
    });
  }
});

Deno.test("Broker queues QoS 0 for offline sessions with queueQos0Messages", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { clientId: "off", ...persistent(4) });
    await subscribe(client, "off/#", 1);
    client.drop();
    await client.closedByBroker();
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "off/0", "zero", { qos: 0 });
    await publish(pub, "off/1", "one", { qos: 1 });
    const { client: again } = await MemoryClient.connect(broker, {
      clientId: "off",
      ...persistent(4),
    });
    const a = await nextMessage(again);
    const b = await nextMessage(again);
    assert.deepEqual([a.text, a.qos, b.text, b.qos], ["zero", 0, "one", 1]);
  }, { queueQos0Messages: true });
});

Deno.test("Broker drops messages beyond maxQueuedMessages for an offline session", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        clientId: "q",
        ...persistent(version),
      });
      await subscribe(client, "q", 1);
      client.drop();
      await client.closedByBroker();
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      for (let i = 0; i < 8; i++) await publish(pub, "q", `m${i}`, { qos: 1, packetId: i + 1 });
      assert.equal(broker.stats.messagesDropped, 3, `v${version}`);
      const { client: again } = await MemoryClient.connect(broker, {
        clientId: "q",
        ...persistent(version),
      });
      const texts: string[] = [];
      for (let i = 0; i < 5; i++) texts.push((await nextMessage(again)).text);
      // Mosquitto's max_queued_messages: the first five are kept, later ones dropped.
      assert.deepEqual(texts, ["m0", "m1", "m2", "m3", "m4"], `v${version}`);
      await expectNothing(again, 30, `v${version}: the rest were dropped`);
    }, { maxQueuedMessages: 5 });
  }
});

Deno.test("Broker resends in-flight PUBLISH and PUBREL on reconnect before queued messages", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        clientId: "r",
        ...persistent(version),
      });
      await subscribe(client, "r/#", 2);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "r/a", "a", { qos: 2 });
      await publish(pub, "r/b", "b", { qos: 1 });
      const a = await nextMessage(client);
      const b = await nextMessage(client);
      // PUBREC for a: the broker moves to PUBREL; b stays unacknowledged.
      client.send({
        type: "pubrec",
        packetId: a.packetId as number,
        ...(version === 5 ? { reasonCode: 0 } : {}),
      });
      assert.equal((await client.next("pubrel")).packetId, a.packetId);
      client.drop();
      await client.closedByBroker();
      await publish(pub, "r/c", "c", { qos: 1 });

      const { client: again, connack } = await MemoryClient.connect(broker, {
        clientId: "r",
        ...persistent(version),
      });
      assert.equal(connack.sessionPresent, true);
      // [MQTT-4.4.0-1]: PUBREL for a (not the PUBLISH again), PUBLISH b with DUP, then c.
      const rel = await again.next("pubrel");
      assert.equal(rel.packetId, a.packetId, `v${version}`);
      const rb = await nextMessage(again);
      assert.deepEqual([rb.text, rb.dup, rb.packetId], ["b", true, b.packetId], `v${version}`);
      const rc = await nextMessage(again);
      assert.deepEqual([rc.text, rc.dup], ["c", false], `v${version}`);
      assert.notEqual(rc.packetId, b.packetId);
      again.send({
        type: "pubcomp",
        packetId: a.packetId as number,
        ...(version === 5 ? { reasonCode: 0 } : {}),
      });
      await expectNothing(again, 30);
      assert.equal(broker.sessions.get("r")?.inflight.has(a.packetId as number), false);
    });
  }
});

Deno.test("Broker keeps inbound QoS 2 state of a persistent session across reconnects", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      await subscribe(sub, "in2");
      const { client: pub } = await MemoryClient.connect(broker, {
        clientId: "pub2",
        ...persistent(version),
      });
      pub.send(publishPacket("in2", "once", { qos: 2, packetId: 9 }));
      assert.equal((await pub.next("pubrec")).packetId, 9);
      assert.equal((await nextMessage(sub)).text, "once");
      pub.drop();
      await pub.closedByBroker();

      const { client: again } = await MemoryClient.connect(broker, {
        clientId: "pub2",
        ...persistent(version),
      });
      // [MQTT-4.3.3-9] with [MQTT-4.1.0-1]: the received-id state is session state, so the
      // re-sent PUBLISH is acknowledged and not delivered again...
      again.send(publishPacket("in2", "once", { qos: 2, packetId: 9, dup: true }));
      assert.equal((await again.next("pubrec")).packetId, 9);
      await expectNothing(sub, 30, `v${version}: exactly once across the reconnect`);
      // ...and the PUBREL finds the id.
      again.send({ type: "pubrel", packetId: 9, ...(version === 5 ? { reasonCode: 0 } : {}) });
      const pubcomp = await again.next("pubcomp");
      assert.equal(pubcomp.reasonCode, version === 5 ? 0 : undefined);
    });
  }
});
