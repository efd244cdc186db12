/**
 * Topic matching (section 4.7): wildcards, `$` topics and overlapping subscriptions, through the
 * broker and directly on {@linkcode SubscriptionTree} and {@linkcode RetainStore}.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Message } from "../../broker/message.ts";
import { RetainStore } from "../../broker/retain.ts";
import { type SubscriptionEntry, SubscriptionTree } from "../../broker/subscriptions.ts";
import type { QoS } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  publish,
  subscribe,
  te,
  VERSIONS,
  withBroker,
} from "./_protocol.ts";

/** [filter, topic, matches] — section 4.7.1 examples and edge cases. */
const MATCHES: [string, string, boolean][] = [
  ["sport/tennis/player1/#", "sport/tennis/player1", true], // [MQTT-4.7.1-2]: parent level
  ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
  ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
  ["sport/#", "sport", true],
  ["#", "sport/tennis", true],
  ["#", "/", true],
  ["sport/tennis/+", "sport/tennis/player1", true],
  ["sport/tennis/+", "sport/tennis/player1/ranking", false], // + is exactly one level
  ["sport/+", "sport", false],
  ["sport/+", "sport/", true], // an empty level is a level
  ["+/+", "/finance", true],
  ["/+", "/finance", true],
  ["+", "/finance", false],
  ["+/tennis/#", "sport/tennis/x", true],
  ["sport/tennis", "sport/tennis", true],
  ["sport/tennis", "Sport/tennis", false], // case-sensitive
  ["sport/tennis", "sport/tennis/", false],
  ["#", "$SYS/broker", false], // [MQTT-4.7.2-1]
  ["+/broker", "$SYS/broker", false], // [MQTT-4.7.2-1]
  ["$SYS/#", "$SYS/broker", true],
  ["$SYS/+", "$SYS/broker", true],
  ["a/+/$x", "a/b/$x", true], // only a leading $ is special
];

function entry(
  clientId: string,
  filter: string,
  qos: QoS = 0,
  more: Partial<SubscriptionEntry> = {},
) {
  return {
    clientId,
    filter,
    qos,
    noLocal: false,
    retainAsPublished: false,
    identifier: 0,
    ...more,
  };
}

function message(topic: string, payload = "x", expiresAt = 0): Message {
  return {
    topic,
    payload: te.encode(payload),
    qos: 0,
    retain: true,
    properties: undefined,
    expiresAt,
    origin: "",
  };
}

Deno.test("SubscriptionTree.match() applies + and # as section 4.7 defines", () => {
  for (const [filter, topic, expected] of MATCHES) {
    const tree = new SubscriptionTree();
    tree.add(entry("c", filter));
    const got = tree.match(topic, "").deliveries.map((d) => d.clientId);
    assert.deepEqual(got, expected ? ["c"] : [], `${filter} vs ${topic}`);
  }
});

Deno.test("SubscriptionTree merges overlapping subscriptions into one delivery", () => {
  const tree = new SubscriptionTree();
  tree.add(entry("c", "a/+", 0, { identifier: 1 }));
  tree.add(entry("c", "a/#", 2, { identifier: 2 }));
  tree.add(entry("c", "a/b", 1, { retainAsPublished: true }));
  tree.add(entry("d", "a/b", 1));
  const { deliveries, shared } = tree.match("a/b", "");
  assert.equal(shared.length, 0);
  const c = deliveries.find((d) => d.clientId === "c");
  // [MQTT-3.3.4-2]: one message at the highest QoS; [MQTT-3.3.4-3]: every identifier.
  assert.equal(deliveries.length, 2);
  assert.equal(c?.qos, 2);
  assert.equal(c?.retainAsPublished, true);
  assert.deepEqual([...(c?.identifiers ?? [])].sort(), [1, 2]);
});

Deno.test("SubscriptionTree adds, replaces and removes subscriptions", () => {
  const tree = new SubscriptionTree();
  assert.equal(tree.add(entry("c", "a/b/c", 0)), true);
  // [MQTT-3.8.4-3]: the same filter again replaces the subscription.
  assert.equal(tree.add(entry("c", "a/b/c", 2)), false);
  assert.equal(tree.size, 1);
  assert.equal(tree.match("a/b/c", "").deliveries[0]?.qos, 2);
  assert.equal(tree.add(entry("c", "a/b", 0)), true);
  assert.equal(tree.remove("c", "a/b/c"), true);
  assert.equal(tree.remove("c", "a/b/c"), false);
  assert.equal(tree.remove("other", "a/b"), false);
  assert.equal(tree.size, 1);
  assert.deepEqual(tree.match("a/b/c", "").deliveries, []);
  assert.equal(tree.match("a/b", "").deliveries.length, 1);
});

Deno.test("SubscriptionTree skips No Local subscriptions of the publisher", () => {
  const tree = new SubscriptionTree();
  tree.add(entry("me", "t", 0, { noLocal: true }));
  tree.add(entry("you", "t", 0, { noLocal: true }));
  // [MQTT-3.8.3-3]: not to the client that published it.
  assert.deepEqual(tree.match("t", "me").deliveries.map((d) => d.clientId), ["you"]);
});

Deno.test("SubscriptionTree round-robins a shared group, separate from normal subscriptions", () => {
  const tree = new SubscriptionTree();
  tree.add(entry("a", "s/+", 1), "g");
  tree.add(entry("b", "s/+", 1), "g");
  tree.add(entry("x", "s/#", 0), "other");
  tree.add(entry("a", "s/t", 0));
  const picks: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { deliveries, shared } = tree.match("s/t", "");
    // A client with a normal and a shared subscription gets both.
    assert.deepEqual(deliveries.map((d) => d.clientId), ["a"]);
    // One member per group [MQTT-4.8.2-2].
    assert.equal(shared.length, 2);
    assert.ok(shared.some((d) => d.clientId === "x"));
    picks.push(shared.find((d) => d.clientId !== "x")?.clientId as string);
  }
  assert.deepEqual(picks, ["a", "b", "a", "b"]);
  assert.equal(tree.remove("a", "s/+", "g"), true);
  assert.deepEqual(tree.match("s/t", "").shared.map((d) => d.clientId).sort(), ["b", "x"]);
  assert.equal(tree.size, 3);
});

Deno.test("RetainStore.match() applies wildcards and skips $ topics for leading wildcards", () => {
  const store = new RetainStore();
  for (const topic of ["sport", "sport/tennis", "sport/tennis/p1", "/finance", "$SYS/broker"]) {
    store.set(message(topic));
  }
  const topics = (filter: string) => store.match(filter, Date.now()).map((m) => m.topic).sort();
  assert.deepEqual(topics("sport/#"), ["sport", "sport/tennis", "sport/tennis/p1"]);
  assert.deepEqual(topics("sport/+"), ["sport/tennis"]);
  assert.deepEqual(topics("+/+"), ["/finance", "sport/tennis"]);
  assert.deepEqual(topics("#"), ["/finance", "sport", "sport/tennis", "sport/tennis/p1"]);
  assert.deepEqual(topics("+/broker"), []);
  assert.deepEqual(topics("$SYS/#"), ["$SYS/broker"]);
  assert.deepEqual(topics("sport/tennis"), ["sport/tennis"]);
  assert.deepEqual(topics("nothing/#"), []);
});

Deno.test("RetainStore replaces, deletes by empty payload and drops expired messages", () => {
  const store = new RetainStore();
  store.set(message("a/b", "one"));
  store.set(message("a/b", "two"));
  assert.equal(store.size, 1);
  assert.equal(new TextDecoder().decode(store.get("a/b")?.payload), "two");
  // [MQTT-3.3.1-6]: an empty payload removes the retained message.
  store.set(message("a/b", ""));
  assert.equal(store.size, 0);
  assert.equal(store.get("a/b"), undefined);
  store.set(message("a/b", "")); // deleting nothing is fine
  assert.equal(store.size, 0);

  const now = Date.now();
  store.set(message("e/old", "x", now - 1));
  store.set(message("e/new", "x", now + 60_000));
  // [MQTT-3.3.2-5]: an expired retained message is not delivered, and is deleted.
  assert.deepEqual(store.match("e/#", now).map((m) => m.topic), ["e/new"]);
  assert.equal(store.size, 1);
  assert.equal([...store.all()].length, 1);
});

Deno.test("Broker routes by + and # wildcards, including # matching its parent level", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const subs = new Map<string, MemoryClient>();
      const filters = ["sport/#", "sport/+", "+/tennis/#", "#", "sport/tennis"];
      for (const filter of filters) {
        const { client } = await MemoryClient.connect(broker, {
          protocolVersion: version,
          clientId: `s-${filter}`,
        });
        await subscribe(client, filter);
        subs.set(filter, client);
      }
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      const expected: Record<string, string[]> = {
        "sport": ["sport/#", "#"],
        "sport/tennis": ["sport/#", "sport/+", "+/tennis/#", "#", "sport/tennis"],
        "sport/tennis/p1": ["sport/#", "+/tennis/#", "#"],
        "news": ["#"],
      };
      for (const [topic, matching] of Object.entries(expected)) {
        await publish(pub, topic, topic);
        for (const [filter, client] of subs) {
          if (matching.includes(filter)) {
            assert.equal((await nextMessage(client)).topic, topic, `v${version} ${filter}`);
          }
        }
        for (const [filter, client] of subs) {
          await expectNothing(client, 0, `v${version}: ${filter} must not match ${topic}`);
        }
      }
    });
  }
});

Deno.test("Broker does not match $SYS topics with # or +/x [MQTT-4.7.2-1]", async () => {
  await withBroker(async (broker) => {
    const { client: wild } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "w",
    });
    await subscribe(wild, ["#", "+/x"]);
    const { client: sys } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s",
    });
    await subscribe(sys, "$SYS/#");
    // The broker's own $SYS publication.
    broker.publish({
      topic: "$SYS/x",
      payload: te.encode("1"),
      qos: 0,
      retain: false,
      properties: undefined,
      expiresAt: 0,
      origin: "",
    });
    assert.equal((await nextMessage(sys)).topic, "$SYS/x");
    await expectNothing(wild, 30, "# and +/x must not match $SYS/x");
  });
});

Deno.test("Broker sends overlapping matches once at the highest QoS with every identifier", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "over",
      });
      const v5 = version === 5;
      await subscribe(client, "o/+", 0, v5 ? { subscriptionIdentifiers: [7] } : undefined);
      await subscribe(client, "o/#", 1, v5 ? { subscriptionIdentifiers: [9] } : undefined);
      await subscribe(client, "o/t", 0);
      const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
      await publish(pub, "o/t", "x", { qos: 2 });
      const m = await nextMessage(client);
      // [MQTT-3.3.4-2]: one copy at the highest granted QoS; [MQTT-3.3.4-3]: all identifiers.
      assert.equal(m.qos, 1, `v${version}`);
      if (v5) assert.deepEqual([...(m.properties?.subscriptionIdentifiers ?? [])].sort(), [7, 9]);
      else assert.equal(m.properties, undefined);
      await expectNothing(client, 30, `v${version}: one delivery only`);
    });
  }
});
