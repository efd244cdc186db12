/**
 * Retained messages (section 3.3.1.3): store, replace, delete, Retain Handling, Retain As
 * Published, the RETAIN flag on deliveries, and expiry, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  publish,
  sleep,
  subscribe,
  VERSIONS,
  withBroker,
} from "./_protocol.ts";

Deno.test("Broker stores, replaces and deletes retained messages", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: pub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "pub",
      });
      await publish(pub, "r/a", "first", { retain: true, qos: 1 });
      await publish(pub, "r/b", "other", { retain: true });
      await publish(pub, "r/a", "second", { retain: true, qos: 1 });
      // [MQTT-3.3.1-5]: one retained message per topic, the newest replaces the old.
      assert.equal(broker.retained.size, 2);

      const { client: s1 } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "s1",
      });
      await subscribe(s1, "r/a", 1);
      const m = await nextMessage(s1);
      // [MQTT-3.3.1-8]: retained on subscribe → RETAIN 1.
      assert.deepEqual(
        [m.topic, m.text, m.retain, m.qos],
        ["r/a", "second", true, 1],
        `v${version}`,
      );
      await expectNothing(s1, 20, `v${version}: only the newest`);

      // [MQTT-3.3.1-6] / [MQTT-3.3.1-7]: an empty retained payload deletes, and is not stored.
      await publish(pub, "r/a", "", { retain: true });
      // A current subscriber still gets the empty message, as a normal delivery.
      const empty = await nextMessage(s1);
      assert.deepEqual([empty.text, empty.retain], ["", false], `v${version}`);
      assert.equal(broker.retained.size, 1);
      assert.equal(broker.retained.get("r/a"), undefined);

      const { client: s2 } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "s2",
      });
      await subscribe(s2, "r/#", 0);
      const only = await nextMessage(s2);
      assert.deepEqual([only.topic, only.text, only.retain], ["r/b", "other", true], `v${version}`);
      await expectNothing(s2, 20, `v${version}: the deleted one is not sent`);
    });
  }
});

Deno.test("Broker delivers retained messages at the lower of stored and granted QoS", async () => {
  await withBroker(async (broker) => {
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "rq/2", "two", { retain: true, qos: 2 });
    await publish(pub, "rq/0", "zero", { retain: true, qos: 0 });
    const { client: sub } = await MemoryClient.connect(broker, { clientId: "sub" });
    await subscribe(sub, "rq/+", 1);
    const got = [await nextMessage(sub), await nextMessage(sub)]
      .map((m) => [m.topic, m.qos])
      .sort();
    // [MQTT-3.8.4-8]: the effective QoS of a retained message is also downgraded.
    assert.deepEqual(got, [["rq/0", 0], ["rq/2", 1]]);
  });
});

Deno.test("Broker clears RETAIN on normal delivery unless Retain As Published is set", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: plain } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "plain",
      });
      await subscribe(plain, "rap/t");
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "rap/t", "x", { retain: true });
      // [MQTT-3.3.1-12] (3.1.1: [MQTT-3.3.1-9]): RETAIN 0 when forwarded to an existing subscriber.
      assert.equal((await nextMessage(plain)).retain, false, `v${version}`);
    });
  }
  await withBroker(async (broker) => {
    const { client: rap } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "rap",
    });
    await subscribe(rap, [{ topicFilter: "rap/t", retainAsPublished: true }]);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "rap/t", "kept", { retain: true });
    await publish(pub, "rap/t", "plain", { retain: false });
    // [MQTT-3.3.1-13]: Retain As Published forwards the flag as it was published.
    const a = await nextMessage(rap);
    const b = await nextMessage(rap);
    assert.deepEqual([a.text, a.retain, b.text, b.retain], ["kept", true, "plain", false]);
  });
});

Deno.test("Broker honours Retain Handling 0, 1 and 2", async () => {
  await withBroker(async (broker) => {
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "rh/t", "kept", { retain: true });
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "rh" });

    // [MQTT-3.3.1-9]: 0 → sent on every subscribe, also when the subscription exists.
    await subscribe(client, [{ topicFilter: "rh/t", retainHandling: 0 }]);
    assert.equal((await nextMessage(client)).retain, true);
    await subscribe(client, [{ topicFilter: "rh/t", retainHandling: 0 }]);
    assert.equal((await nextMessage(client)).text, "kept");

    // [MQTT-3.3.1-10]: 1 → only when the subscription did not exist.
    await subscribe(client, [{ topicFilter: "rh/+", retainHandling: 1 }]);
    assert.equal((await nextMessage(client)).text, "kept");
    await subscribe(client, [{ topicFilter: "rh/+", retainHandling: 1 }]);
    await expectNothing(client, 30, "retain handling 1 on an existing subscription");

    // [MQTT-3.3.1-11]: 2 → never.
    await subscribe(client, [{ topicFilter: "rh/#", retainHandling: 2 }]);
    await expectNothing(client, 30, "retain handling 2");
  });
});

Deno.test("Broker does not send expired retained messages and counts down their expiry", async () => {
  await withBroker(async (broker) => {
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "pub",
    });
    await publish(pub, "rx/short", "short", {
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await publish(pub, "rx/long", "long", {
      retain: true,
      properties: { messageExpiryInterval: 60 },
    });
    await sleep(1100);
    const { client: sub } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sub, "rx/#");
    const m = await nextMessage(sub);
    // [MQTT-3.3.2-5]: the expired one is not delivered; [MQTT-3.3.2-6]: the other carries the
    // time left, less than what was published.
    assert.equal(m.topic, "rx/long");
    const left = m.properties?.messageExpiryInterval as number;
    assert.ok(left >= 1 && left < 60, `expiry left ${left}`);
    await expectNothing(sub, 30, "the expired retained message");
    assert.equal(broker.retained.get("rx/short"), undefined);
  });
});
