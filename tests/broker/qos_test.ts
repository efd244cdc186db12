/**
 * QoS 0/1/2 flows in both directions (sections 4.3, 4.4, 4.6), packet identifiers, DUP and QoS
 * downgrade, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Session } from "../../broker/session.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  puback,
  publish,
  publishPacket,
  subscribe,
  VERSIONS,
  withBroker,
} from "./_protocol.ts";

Deno.test("Broker delivers QoS 0, 1 and 2 end to end with the full acknowledgement flows", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      assert.deepEqual((await subscribe(sub, "q/#", 2)).reasonCodes, [2]);
      const { client: pub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "pub",
      });

      // QoS 0: no acknowledgement, no packet id [MQTT-2.2.1-2].
      await publish(pub, "q/0", "zero");
      const m0 = await nextMessage(sub);
      assert.equal(m0.qos, 0);
      assert.equal(m0.packetId, undefined);
      assert.equal(m0.text, "zero");

      // QoS 1: PUBACK to the publisher [MQTT-4.3.2-4]; the subscriber's PUBACK ends it.
      await publish(pub, "q/1", "one", { qos: 1, packetId: 11 });
      const m1 = await nextMessage(sub);
      assert.equal(m1.qos, 1);
      assert.equal(m1.text, "one");
      assert.equal(m1.dup, false);
      puback(sub, m1.packetId as number);

      // QoS 2: PUBREC/PUBREL/PUBCOMP with the publisher; PUBLISH/PUBREC/PUBREL/PUBCOMP to the
      // subscriber [MQTT-4.3.3].
      await publish(pub, "q/2", "two", { qos: 2, packetId: 12 });
      const m2 = await nextMessage(sub);
      assert.equal(m2.qos, 2);
      assert.equal(m2.text, "two");
      const id = m2.packetId as number;
      sub.send({ type: "pubrec", packetId: id, ...(version === 5 ? { reasonCode: 0 } : {}) });
      const pubrel = await sub.next("pubrel");
      // [MQTT-4.3.3-4]: PUBREL with the same packet id.
      assert.equal(pubrel.packetId, id);
      sub.send({ type: "pubcomp", packetId: id, ...(version === 5 ? { reasonCode: 0 } : {}) });
      await expectNothing(sub, 30, `v${version}: flows are complete`);
      const session = broker.sessions.get("sub");
      assert.equal(session?.inflight.size, 0, `v${version}: nothing left in flight`);
    });
  }
});

Deno.test("Broker numbers outgoing packet ids from 1 and never reuses one in flight", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "ids",
      });
      await subscribe(sub, "ids", 1);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      for (let i = 0; i < 4; i++) await publish(pub, "ids", `m${i}`, { qos: 1, packetId: 1 });
      const first: number[] = [];
      for (let i = 0; i < 4; i++) first.push((await nextMessage(sub)).packetId as number);
      // [MQTT-2.2.1-3]: unused, non-zero ids; this broker counts from 1.
      assert.deepEqual(first, [1, 2, 3, 4], `v${version}`);
      puback(sub, 2);
      for (let i = 0; i < 3; i++) await publish(pub, "ids", `n${i}`, { qos: 1, packetId: 1 });
      for (let i = 0; i < 3; i++) {
        const id = (await nextMessage(sub)).packetId as number;
        assert.ok(![1, 3, 4].includes(id), `v${version}: id ${id} is still in flight`);
        assert.ok(id > 0);
      }
    });
  }
});

Deno.test("Session.allocatePacketId() wraps after 65535 and skips ids in flight", () => {
  const session = new Session("s", 5, 0);
  const item = {
    message: {
      topic: "t",
      payload: new Uint8Array(),
      qos: 1 as const,
      retain: false,
      properties: undefined,
      expiresAt: 0,
      origin: "",
    },
    qos: 1 as const,
    retain: false,
    identifiers: [],
  };
  for (let i = 1; i <= 65535; i++) {
    const id = session.allocatePacketId();
    assert.equal(id, i);
    session.inflight.set(i, { ...item, packetId: i, state: "publish" });
  }
  // [MQTT-2.2.1-3]: all 65535 in use → none to give.
  assert.equal(session.allocatePacketId(), undefined);
  session.inflight.delete(7);
  session.inflight.delete(40000);
  // After the wrap only the freed ids come back, never 0 and never one in flight.
  assert.equal(session.allocatePacketId(), 7);
  session.inflight.set(7, { ...item, packetId: 7, state: "publish" });
  assert.equal(session.allocatePacketId(), 40000);
});

Deno.test("Broker redelivers unacknowledged messages with DUP set and the same packet id", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const persistent = version === 5
        ? { clean: false, properties: { sessionExpiryInterval: 60 } }
        : { clean: false };
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "dup",
        ...persistent,
      });
      await subscribe(sub, "dup/#", 2);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "dup/1", "one", { qos: 1 });
      await publish(pub, "dup/2", "two", { qos: 2 });
      const a = await nextMessage(sub);
      const b = await nextMessage(sub);
      assert.equal(a.dup, false);
      assert.equal(b.dup, false);
      sub.drop();

      const { client: again, connack } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "dup",
        ...persistent,
      });
      assert.equal(connack.sessionPresent, true);
      // [MQTT-4.4.0-1]: resent in the original order, same ids; [MQTT-3.3.1-1]: DUP set.
      const ra = await nextMessage(again);
      const rb = await nextMessage(again);
      assert.deepEqual(
        [ra.topic, ra.packetId, ra.dup, ra.qos],
        ["dup/1", a.packetId, true, 1],
        `v${version}`,
      );
      assert.deepEqual(
        [rb.topic, rb.packetId, rb.dup, rb.qos],
        ["dup/2", b.packetId, true, 2],
        `v${version}`,
      );
    });
  }
});

Deno.test("Broker downgrades delivery QoS to the granted subscription QoS", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: s0 } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "s0",
      });
      const { client: s1 } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "s1",
      });
      await subscribe(s0, "down", 0);
      await subscribe(s1, "down", 1);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "down", "x", { qos: 2 });
      // [MQTT-3.8.4-8]: the lower of the published QoS and the granted QoS.
      const m0 = await nextMessage(s0);
      const m1 = await nextMessage(s1);
      assert.equal(m0.qos, 0, `v${version}`);
      assert.equal(m0.packetId, undefined);
      assert.equal(m1.qos, 1, `v${version}`);
      // No upgrade: QoS 0 published to a QoS 1 subscription stays QoS 0.
      await publish(pub, "down", "y", { qos: 0 });
      assert.equal((await nextMessage(s1)).qos, 0, `v${version}`);
    });
  }
});

Deno.test("Broker handles an inbound QoS 2 message exactly once across re-sent PUBLISHes", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sub",
      });
      await subscribe(sub, "once", 0);
      const { client: pub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "pub",
      });
      pub.send(publishPacket("once", "first", { qos: 2, packetId: 5 }));
      assert.equal((await pub.next("pubrec")).packetId, 5);
      // The publisher did not see the PUBREC and re-sends before PUBREL [MQTT-4.3.3-9]: PUBREC
      // again, no second delivery.
      pub.send(publishPacket("once", "first", { qos: 2, packetId: 5, dup: true }));
      assert.equal((await pub.next("pubrec")).packetId, 5);
      assert.equal((await nextMessage(sub)).text, "first");
      await expectNothing(sub, 30, `v${version}: delivered once`);

      pub.send({ type: "pubrel", packetId: 5, ...(version === 5 ? { reasonCode: 0 } : {}) });
      const pubcomp = await pub.next("pubcomp");
      assert.equal(pubcomp.packetId, 5);
      if (version === 5) assert.equal(pubcomp.reasonCode, 0);
      // After PUBCOMP the id is free again: the same id carries a new message.
      pub.send(publishPacket("once", "second", { qos: 2, packetId: 5 }));
      await pub.next("pubrec");
      assert.equal((await nextMessage(sub)).text, "second", `v${version}`);
    });
  }
});

Deno.test("Broker answers PUBREL for an unknown packet id with PUBCOMP (v5: 0x92)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "c",
      });
      client.send({ type: "pubrel", packetId: 99, ...(version === 5 ? { reasonCode: 0 } : {}) });
      const pubcomp = await client.next("pubcomp");
      assert.equal(pubcomp.packetId, 99);
      // Section 3.7.2.1: 0x92 Packet Identifier not found; 3.1.1 PUBCOMP has no reason code.
      assert.equal(pubcomp.reasonCode, version === 5 ? 0x92 : undefined);
      assert.equal(client.closed, false);
    });
  }
});

Deno.test("Broker acknowledges with 0x10 No matching subscribers (v5) when nobody subscribed", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "c" });
    client.send(publishPacket("nobody/here", "x", { qos: 1, packetId: 1 }));
    const ack1 = await client.next("puback");
    // Section 3.4.2.1: 0x10, as Mosquitto 2.0 sends.
    assert.deepEqual([ack1.packetId, ack1.reasonCode], [1, 0x10]);
    client.send(publishPacket("nobody/here", "x", { qos: 2, packetId: 2 }));
    const rec = await client.next("pubrec");
    assert.deepEqual([rec.packetId, rec.reasonCode], [2, 0x10]);

    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sub, "some/one", 1);
    client.send(publishPacket("some/one", "x", { qos: 1, packetId: 3 }));
    const ack3 = await client.next("puback");
    assert.deepEqual([ack3.packetId, ack3.reasonCode], [3, 0]);

    const { client: v4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "v4",
    });
    v4.send(publishPacket("nobody/here", "x", { qos: 1, packetId: 4 }));
    // 3.1.1 PUBACK has no reason code.
    assert.deepEqual(await v4.next("puback"), { type: "puback", packetId: 4 });
  });
});

Deno.test("Broker ends an outgoing QoS 2 flow on a v5 PUBREC with a failure code", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sub, "fail", 2);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "fail", "x", { qos: 2 });
    const m = await nextMessage(sub);
    sub.send({ type: "pubrec", packetId: m.packetId as number, reasonCode: 0x80 });
    // Section 4.3.3: a PUBREC with a reason code of 0x80 or more completes the flow: no PUBREL.
    await expectNothing(sub, 30, "no PUBREL after a failed PUBREC");
    assert.equal(broker.sessions.get("s")?.inflight.size, 0);
  });
});

Deno.test("Broker answers PUBREC for an unknown packet id with PUBREL (v5: 0x92)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "c",
      });
      client.send({ type: "pubrec", packetId: 77, ...(version === 5 ? { reasonCode: 0 } : {}) });
      const pubrel = await client.next("pubrel");
      // Section 4.3.3 / 3.6.2.1: 0x92 Packet Identifier not found, so the client can finish.
      assert.equal(pubrel.packetId, 77);
      assert.equal(pubrel.reasonCode, version === 5 ? 0x92 : undefined);
      assert.equal(client.closed, false);
    });
  }
});
