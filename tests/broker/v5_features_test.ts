/**
 * MQTT 5 features of the broker core: topic aliases both ways, message expiry, No Local,
 * Subscription Identifiers, shared subscriptions, property pass-through, SUBACK/UNSUBACK reason
 * codes, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Packet } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  publish,
  publishPacket,
  sleep,
  subscribe,
  withBroker,
} from "./_protocol.ts";

function disconnectCode(packets: Packet[]): (number | undefined)[] {
  return packets.map((p) => p.type === "disconnect" ? p.reasonCode : -1);
}

Deno.test("Broker resolves inbound topic aliases set by the client", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sub, "ta/#");
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "p",
    });
    // [MQTT-3.3.2-12]: a topic plus an alias sets the mapping...
    pub.send(publishPacket("ta/x", "1", { properties: { topicAlias: 3 } }));
    // ...an empty topic with the alias uses it.
    pub.send(publishPacket("", "2", { properties: { topicAlias: 3 } }));
    // A new topic for the same alias replaces the mapping.
    pub.send(publishPacket("ta/y", "3", { properties: { topicAlias: 3 } }));
    pub.send(publishPacket("", "4", { properties: { topicAlias: 3 } }));
    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await nextMessage(sub);
      got.push([m.topic, m.text]);
      // The alias is per connection: it is not forwarded to the subscriber [MQTT-3.3.2-10].
      assert.equal(m.properties?.topicAlias, undefined);
    }
    assert.deepEqual(got, [["ta/x", "1"], ["ta/x", "2"], ["ta/y", "3"], ["ta/y", "4"]]);
  });
});

Deno.test("Broker disconnects with 0x94 for topic alias 0 or above its maximum of 10", async () => {
  await withBroker(async (broker) => {
    for (const alias of [0, 11]) {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: 5,
        clientId: `a${alias}`,
      });
      client.send(publishPacket("t", "x", { properties: { topicAlias: alias } }));
      // [MQTT-3.3.2-8] / [MQTT-3.3.2-9]: Topic Alias invalid.
      assert.deepEqual(disconnectCode(await client.closedByBroker()), [0x94], `alias ${alias}`);
    }
  });
});

Deno.test("Broker disconnects with 0x82 for an empty topic with an alias never set", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "c" });
    client.send(publishPacket("", "x", { properties: { topicAlias: 2 } }));
    // Section 3.3.2.3.4: no mapping for the alias → Protocol Error.
    assert.deepEqual(disconnectCode(await client.closedByBroker()), [0x82]);

    // [MQTT-3.3.2-7]: aliases do not outlive the connection, even with a persistent session.
    const persistent = {
      protocolVersion: 5 as const,
      clientId: "p",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const { client: first } = await MemoryClient.connect(broker, persistent);
    first.send(publishPacket("alias/t", "x", { properties: { topicAlias: 1 } }));
    first.drop();
    const { client: second } = await MemoryClient.connect(broker, persistent);
    second.send(publishPacket("", "x", { properties: { topicAlias: 1 } }));
    assert.deepEqual(disconnectCode(await second.closedByBroker()), [0x82]);
  });
});

Deno.test("Broker uses outbound topic aliases up to the client's Topic Alias Maximum", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "alias-sub",
      properties: { topicAliasMaximum: 1 },
    });
    await subscribe(sub, "oa/#");
    const { client: plain } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "plain",
    });
    await subscribe(plain, "oa/#");
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    for (const topic of ["oa/t", "oa/t", "oa/u", "oa/t"]) await publish(pub, topic, topic);

    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await nextMessage(sub);
      got.push([m.topic, m.properties?.topicAlias, m.text]);
    }
    assert.deepEqual(got, [
      ["oa/t", 1, "oa/t"], // alias set up with the topic
      ["", 1, "oa/t"], // [MQTT-3.3.2-8]: known alias → empty topic
      ["oa/u", undefined, "oa/u"], // [MQTT-3.3.2-11]: no alias above the client's maximum
      ["", 1, "oa/t"],
    ]);
    // [MQTT-3.3.2-11]: a client that did not send Topic Alias Maximum gets no aliases.
    for (let i = 0; i < 4; i++) {
      const m = await nextMessage(plain);
      assert.equal(m.topic, m.text);
      assert.equal(m.properties?.topicAlias, undefined);
    }
  });
});

Deno.test("Broker gives a client topic alias 1 then the empty topic (Topic Alias Maximum 5)", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "alias5",
      properties: { topicAliasMaximum: 5 },
    });
    await subscribe(sub, "five", 1);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "five", "a", { qos: 1 });
    await publish(pub, "five", "b", { qos: 1 });
    const a = await nextMessage(sub);
    const b = await nextMessage(sub);
    assert.deepEqual([a.topic, a.properties?.topicAlias], ["five", 1]);
    assert.deepEqual([b.topic, b.properties?.topicAlias, b.text], ["", 1, "b"]);
  });
});

Deno.test("Broker keeps at most the client's Receive Maximum QoS 1 messages unacknowledged", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "rm",
      properties: { receiveMaximum: 2 },
    });
    await subscribe(sub, "rm", 1);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    for (let i = 0; i < 4; i++) await publish(pub, "rm", `m${i}`, { qos: 1, packetId: i + 1 });
    const a = await nextMessage(sub);
    const b = await nextMessage(sub);
    assert.deepEqual([a.text, b.text], ["m0", "m1"]);
    // [MQTT-3.3.4-9]: no more QoS > 0 PUBLISHes while Receive Maximum are unacknowledged.
    await expectNothing(sub, 50, "window of 2 is full");
    // QoS 0 is not counted against the window (section 4.9).
    await publish(pub, "rm", "q0");
    assert.deepEqual([(await nextMessage(sub)).text], ["q0"]);
    sub.send({ type: "puback", packetId: a.packetId as number, reasonCode: 0 });
    assert.equal((await nextMessage(sub)).text, "m2");
    await expectNothing(sub, 30, "window full again");
    sub.send({ type: "puback", packetId: b.packetId as number, reasonCode: 0 });
    assert.equal((await nextMessage(sub)).text, "m3");
  });
});

Deno.test("Broker disconnects with 0x93 a client with more than 20 unreleased QoS 2 PUBLISHes", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "q2" });
    for (let id = 1; id <= 20; id++) {
      client.send(publishPacket("q2", "x", { qos: 2, packetId: id }));
      assert.equal((await client.next("pubrec")).packetId, id);
    }
    // Releasing one frees a slot: the next is accepted...
    client.send({ type: "pubrel", packetId: 1, reasonCode: 0 });
    assert.equal((await client.next("pubcomp")).reasonCode, 0);
    client.send(publishPacket("q2", "x", { qos: 2, packetId: 21 }));
    assert.equal((await client.next("pubrec")).packetId, 21);
    // ...and one more than 20 unreleased is refused.
    client.send(publishPacket("q2", "x", { qos: 2, packetId: 22 }));
    // [MQTT-3.3.4-9] from the server's side (our Receive Maximum 20): 0x93.
    assert.deepEqual(disconnectCode(await client.closedByBroker()), [0x93]);
  });
});

Deno.test("Broker never sends a packet above the client's Maximum Packet Size", async () => {
  await withBroker(async (broker) => {
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "mps",
      properties: { maximumPacketSize: 100 },
    });
    await subscribe(sub, "mps", 1);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "mps", "x".repeat(200), { qos: 1 });
    await publish(pub, "mps", "y".repeat(200), { qos: 0 });
    await publish(pub, "mps", "small", { qos: 1 });
    // [MQTT-3.1.2-24]: too large → discarded without telling anyone [MQTT-3.1.2-25].
    const m = await nextMessage(sub);
    assert.equal(m.text, "small");
    await expectNothing(sub, 30);
    for (const chunk of sub.written) assert.ok(chunk.length <= 100, `chunk of ${chunk.length}`);
    // The dropped QoS 1 message does not hold an in-flight slot.
    sub.send({ type: "puback", packetId: m.packetId as number, reasonCode: 0 });
    await sub.settle(10);
    assert.equal(broker.sessions.get("mps")?.inflight.size, 0);
  });
});

Deno.test("Broker drops expired queued messages and forwards the rest with expiry counted down", async () => {
  await withBroker(async (broker) => {
    const persistent = {
      protocolVersion: 5 as const,
      clientId: "mx",
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const { client } = await MemoryClient.connect(broker, persistent);
    await subscribe(client, "mx/#", 1);
    client.drop();
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "p",
    });
    await publish(pub, "mx/short", "short", { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publish(pub, "mx/long", "long", { qos: 1, properties: { messageExpiryInterval: 60 } });
    await publish(pub, "mx/none", "none", { qos: 1 });
    await sleep(1100);
    const { client: again } = await MemoryClient.connect(broker, persistent);
    const a = await nextMessage(again);
    const b = await nextMessage(again);
    // [MQTT-3.3.2-5]: "short" expired while queued and is not sent.
    assert.deepEqual([a.text, b.text], ["long", "none"]);
    // [MQTT-3.3.2-6]: the interval sent is what is left, below the 60 published.
    const left = a.properties?.messageExpiryInterval as number;
    assert.ok(left >= 1 && left < 60, `expiry left ${left}`);
    assert.equal(b.properties?.messageExpiryInterval, undefined);
    await expectNothing(again, 30);
  });
});

Deno.test("Broker does not send a No Local subscriber its own messages", async () => {
  await withBroker(async (broker) => {
    const { client: me } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "me",
    });
    await subscribe(me, [{ topicFilter: "nl/t", noLocal: true }]);
    const { client: other } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "o",
    });
    await subscribe(other, [{ topicFilter: "nl/t", noLocal: true }]);
    await publish(me, "nl/t", "mine");
    // [MQTT-3.8.3-3]: not to the publisher's own No Local subscription; others get it.
    assert.equal((await nextMessage(other)).text, "mine");
    await expectNothing(me, 30, "own message with No Local");
    await publish(other, "nl/t", "theirs");
    assert.equal((await nextMessage(me)).text, "theirs");
  });
});

Deno.test("Broker sends the Subscription Identifier of the matching subscription", async () => {
  await withBroker(async (broker) => {
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "si/r", "retained", { retain: true });
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "si" });
    await subscribe(client, "si/+", 0, { subscriptionIdentifiers: [42] });
    // Retained on subscribe carries it too [MQTT-3.3.4-3].
    const r = await nextMessage(client);
    assert.deepEqual([r.text, r.properties?.subscriptionIdentifiers], ["retained", [42]]);
    await subscribe(client, "plain/t");
    await publish(pub, "si/x", "1");
    await publish(pub, "plain/t", "2");
    assert.deepEqual((await nextMessage(client)).properties?.subscriptionIdentifiers, [42]);
    // No identifier in the SUBSCRIBE → none in the PUBLISH.
    assert.equal((await nextMessage(client)).properties, undefined);
    // Re-subscribing with another identifier replaces it [MQTT-3.8.4-3].
    await subscribe(client, [{ topicFilter: "si/+", retainHandling: 2 }], 0, {
      subscriptionIdentifiers: [7],
    });
    await publish(pub, "si/x", "3");
    assert.deepEqual((await nextMessage(client)).properties?.subscriptionIdentifiers, [7]);
  });
});

Deno.test("Broker round-robins a shared subscription between v5 and 3.1.1 members", async () => {
  for (const versions of [[5, 4], [4, 4]] as const) {
    await withBroker(async (broker) => {
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "sh/t", "retained", { retain: true });
      const { client: a } = await MemoryClient.connect(broker, {
        protocolVersion: versions[0],
        clientId: "a",
      });
      const { client: b } = await MemoryClient.connect(broker, {
        protocolVersion: versions[1],
        clientId: "b",
      });
      assert.deepEqual((await subscribe(a, "$share/g/sh/+", 1)).reasonCodes, [1]);
      assert.deepEqual((await subscribe(b, "$share/g/sh/+", 1)).reasonCodes, [1]);
      // Section 4.8.2: no retained messages for shared subscriptions.
      await expectNothing(a, 20);
      await expectNothing(b, 0);
      for (let i = 0; i < 4; i++) await publish(pub, "sh/t", `m${i}`, { qos: 1, packetId: i + 1 });
      // [MQTT-4.8.2-2]: each message to one member only; members take turns.
      const ga = [(await nextMessage(a)).text, (await nextMessage(a)).text];
      const gb = [(await nextMessage(b)).text, (await nextMessage(b)).text];
      assert.deepEqual([ga, gb], [["m0", "m2"], ["m1", "m3"]], `versions ${versions}`);
      await expectNothing(a, 20);
      await expectNothing(b, 0);
    });
  }
});

Deno.test("Broker sends shared messages to the online member while another is offline", async () => {
  await withBroker(async (broker) => {
    const persistent = { protocolVersion: 4 as const, clean: false };
    const { client: a } = await MemoryClient.connect(broker, { ...persistent, clientId: "a" });
    const { client: b } = await MemoryClient.connect(broker, { ...persistent, clientId: "b" });
    await subscribe(a, "$share/g/off/t", 1);
    await subscribe(b, "$share/g/off/t", 1);
    a.drop();
    await a.closedByBroker();
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    for (let i = 0; i < 3; i++) await publish(pub, "off/t", `m${i}`, { qos: 1, packetId: 1 });
    // Section 4.8.2: the server picks a member per message; one that can take it now.
    const texts = [];
    for (let i = 0; i < 3; i++) texts.push((await nextMessage(b)).text);
    assert.deepEqual(texts, ["m0", "m1", "m2"]);
  });
});

Deno.test("Broker treats No Local on a shared subscription as a protocol error (0x82)", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "c" });
    client.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        topicFilter: "$share/g/t",
        qos: 0,
        noLocal: true,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    // [MQTT-3.8.3-4].
    assert.deepEqual(disconnectCode(await client.closedByBroker()), [0x82]);
  });
});

Deno.test("Broker forwards PUBLISH properties unchanged, user property order kept", async () => {
  await withBroker(async (broker) => {
    const { client: sub5 } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s5",
    });
    await subscribe(sub5, "props", 1);
    const { client: sub4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "s4",
    });
    await subscribe(sub4, "props", 1);
    const properties = {
      payloadFormatIndicator: 1,
      contentType: "application/json",
      responseTopic: "reply/to/me",
      correlationData: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      userProperties: [["b", "1"], ["a", "2"], ["b", "3"]] as [string, string][],
    };
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "p",
    });
    await publish(pub, "props", "{}", { qos: 1, properties });
    // [MQTT-3.3.2-4], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-17], [MQTT-3.3.2-20]: sent
    // unaltered; [MQTT-3.3.2-18]: user properties in order.
    const m5 = await nextMessage(sub5);
    assert.deepEqual(m5.properties, properties);
    const m4 = await nextMessage(sub4);
    assert.equal(m4.properties, undefined);
    assert.equal(m4.text, "{}");
  });
});

Deno.test("Broker refuses invalid topic filters per filter (v5 0x8F, 3.1.1 0x80)", async () => {
  for (const [version, failure] of [[5, 0x8f], [4, 0x80]] as const) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "c",
      });
      const suback = await subscribe(client, ["ok/+", "a/#/b", "a+", "$share/g", "ok/#"], 1);
      // [MQTT-4.7.1-1..3], section 4.8.2: wrong wildcards, a share without filter.
      assert.deepEqual(suback.reasonCodes, [1, failure, failure, failure, 1], `v${version}`);
      assert.equal(client.closed, false);
      assert.equal(broker.subscriptions.size, 2);
    });
  }
});

Deno.test("Broker answers UNSUBSCRIBE with 0x11 for a filter that had no subscription", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "c" });
    await subscribe(client, "u/t", 1);
    client.send({ type: "unsubscribe", packetId: 9, topicFilters: ["u/t", "never/was"] });
    const unsuback = await client.next("unsuback");
    // Section 3.11.3: 0x00 Success, 0x11 No subscription existed.
    assert.deepEqual([unsuback.packetId, unsuback.reasonCodes], [9, [0x00, 0x11]]);
    assert.equal(broker.subscriptions.size, 0);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "u/t", "x");
    await expectNothing(client, 30, "unsubscribed");

    const { client: v4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "v4",
    });
    v4.send({ type: "unsubscribe", packetId: 3, topicFilters: ["never/was"] });
    // [MQTT-3.10.4-5]: 3.1.1 answers UNSUBACK (no payload) even when nothing matched.
    assert.deepEqual(await v4.next("unsuback"), { type: "unsuback", packetId: 3, reasonCodes: [] });
  });
});
