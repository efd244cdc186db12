/**
 * The broker with a store, crashed and restarted in-process: a copy of what the store had made
 * durable at the moment of the "crash" (the committed maps of a {@linkcode MemoryStore}, the
 * database and WAL files of a {@linkcode SqliteStore}) is what the next broker restores. Proves
 * the core records what it must, before it acknowledges it; the real-process `kill -9` runs are
 * in `crash_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import type { BrokerOptions } from "../../broker/options.ts";
import { MemoryStore } from "../../broker/store/memory_store.ts";
import { SqliteStore } from "../../broker/store/sqlite_store.ts";
import type { Store } from "../../broker/store/store.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  nextMessage,
  publish,
  publishPacket,
  subscribe,
  te,
  waitFor,
} from "../broker/_protocol.ts";

/** A store kind whose durable state can be copied at any instant, as a crash would leave it. */
interface Durable {
  name: string;
  open(): Store;
  /** A new store on a copy of what `store` has made durable so far. */
  crashCopy(store: Store): Store;
  cleanup(): void;
}

function memoryKind(): Durable {
  return {
    name: "MemoryStore",
    open: () => new MemoryStore(),
    crashCopy: (store) => new MemoryStore(structuredClone((store as MemoryStore).data)),
    cleanup: () => {},
  };
}

function sqliteKind(): Durable {
  const dir = Deno.makeTempDirSync({ prefix: "midge-restore-" });
  let generation = 0;
  const opened: SqliteStore[] = [];
  return {
    name: "SqliteStore",
    open: () => {
      const store = SqliteStore.open(`${dir}/${generation}.db`);
      opened.push(store);
      return store;
    },
    crashCopy: (store) => {
      const from = (store as SqliteStore).path;
      const to = `${dir}/${++generation}.db`;
      // The bytes on disk now are what a power cut would leave (synchronous=FULL: committed
      // transactions are in the WAL).
      Deno.copyFileSync(from, to);
      try {
        Deno.copyFileSync(`${from}-wal`, `${to}-wal`);
      } catch {
        // No WAL yet.
      }
      const copy = SqliteStore.open(to);
      opened.push(copy);
      return copy;
    },
    cleanup: () => {
      for (const store of opened) store.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

const OPTIONS: BrokerOptions = { connectionMessages: false };

/**
 * Runs `scenario` for each store kind with a `crash()` that stops the first broker abruptly and
 * returns a second one restored from what the first had made durable.
 */
function crashTest(
  title: string,
  scenario: (
    broker: Broker,
    crash: () => Promise<{ broker: Broker; restored: ReturnType<Broker["restore"]> }>,
  ) => Promise<void>,
  options: BrokerOptions = {},
): void {
  for (const kind of [memoryKind, sqliteKind]) {
    Deno.test(`${title} (${kind().name})`, async () => {
      const durable = kind();
      const first = new Broker({ ...OPTIONS, ...options, store: durable.open() });
      const brokers = [first];
      try {
        await scenario(first, async () => {
          const copy = durable.crashCopy(first.store!);
          // The first broker is gone: nothing it does from now on counts.
          await first.close();
          const second = new Broker({ ...OPTIONS, ...options, store: copy });
          brokers.push(second);
          return { broker: second, restored: second.restore() };
        });
      } finally {
        for (const broker of brokers) await broker.close();
        durable.cleanup();
      }
    });
  }
}

const PERSISTENT_V5 = { protocolVersion: 5 as const, clean: false };
const EXPIRY = { properties: { sessionExpiryInterval: 3600 } };

crashTest(
  "Broker restores sessions, subscriptions, queued and retained messages after a crash",
  async (broker, crash) => {
    const { client: sub4 } = await MemoryClient.connect(broker, { clientId: "sub4", clean: false });
    await subscribe(sub4, "q/#", 1);
    sub4.drop();
    const { client: sub5 } = await MemoryClient.connect(broker, {
      clientId: "sub5",
      ...PERSISTENT_V5,
      ...EXPIRY,
    });
    await subscribe(sub5, [{ topicFilter: "q/#", qos: 2, retainAsPublished: true }], 2, {
      subscriptionIdentifiers: [7],
    });
    sub5.drop();
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    for (let i = 1; i <= 5; i++) await publish(pub, "q/a", `m${i}`, { qos: 1, packetId: i });
    await publish(pub, "q/b", "exactly", { qos: 2, packetId: 6, retain: true });
    await publish(pub, "r/x", "retained", { qos: 1, packetId: 7, retain: true });

    const { broker: restarted, restored } = await crash();
    // pub had a clean session: nothing of it is kept.
    assert.deepStrictEqual(restored, { sessions: 2, retained: 2, queued: 12 });

    const again = await MemoryClient.connect(restarted, { clientId: "sub4", clean: false });
    assert.equal(again.connack.sessionPresent, true);
    const texts = [];
    for (let i = 0; i < 6; i++) {
      const message = await nextMessage(again.client);
      texts.push(message.text);
      again.client.send({ type: "puback", packetId: message.packetId! });
    }
    assert.deepStrictEqual(texts, ["m1", "m2", "m3", "m4", "m5", "exactly"]);

    const v5 = await MemoryClient.connect(restarted, {
      clientId: "sub5",
      ...PERSISTENT_V5,
      ...EXPIRY,
    });
    assert.equal(v5.connack.sessionPresent, true);
    const first = await nextMessage(v5.client);
    assert.equal(first.text, "m1");
    assert.deepStrictEqual(first.properties?.subscriptionIdentifiers, [7]);

    // The subscription itself survived: a new message reaches sub4.
    const { client: pub2 } = await MemoryClient.connect(restarted, { clientId: "pub2" });
    await publish(pub2, "q/c", "after restart", { qos: 1 });
    assert.equal((await nextMessage(again.client)).text, "after restart");

    const { client: fresh } = await MemoryClient.connect(restarted, { clientId: "fresh" });
    await subscribe(fresh, "r/#", 1);
    const retained = await nextMessage(fresh);
    assert.equal(retained.text, "retained");
    assert.equal(retained.retain, true);
  },
);

crashTest(
  "Broker keeps exactly-once for a QoS 2 PUBLISH acknowledged with PUBREC before a crash",
  async (broker, crash) => {
    const { client: sub } = await MemoryClient.connect(broker, { clientId: "sub", clean: false });
    await subscribe(sub, "x/#", 2);
    sub.drop();
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub", clean: false });
    pub.send(publishPacket("x/1", "once", { qos: 2, packetId: 42 }));
    assert.equal((await pub.next("pubrec")).packetId, 42);

    const { broker: restarted } = await crash();
    const resumed = await MemoryClient.connect(restarted, { clientId: "pub", clean: false });
    assert.equal(resumed.connack.sessionPresent, true);
    // The publisher never saw PUBCOMP, so it sends the PUBLISH again [MQTT-4.4.0-1].
    resumed.client.send(publishPacket("x/1", "once", { qos: 2, packetId: 42, dup: true }));
    assert.equal((await resumed.client.next("pubrec")).packetId, 42);
    resumed.client.send({ type: "pubrel", packetId: 42 });
    assert.equal((await resumed.client.next("pubcomp")).packetId, 42);

    const { client: back } = await MemoryClient.connect(restarted, {
      clientId: "sub",
      clean: false,
    });
    const message = await nextMessage(back);
    assert.equal(message.text, "once");
    back.send({ type: "pubrec", packetId: message.packetId! });
    assert.equal((await back.next("pubrel")).packetId, message.packetId);
    back.send({ type: "pubcomp", packetId: message.packetId! });
    // [MQTT-4.3.3-9]: the re-sent PUBLISH was not delivered a second time.
    assert.deepStrictEqual(await back.settle(50), []);
  },
);

crashTest(
  "Broker resends in-flight messages after a crash: PUBLISH with DUP, or PUBREL",
  async (broker, crash) => {
    const { client: sub } = await MemoryClient.connect(broker, { clientId: "sub", clean: false });
    await subscribe(sub, "f/#", 2);
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "pub" });
    await publish(pub, "f/1", "unacked", { qos: 1 });
    await publish(pub, "f/2", "received", { qos: 2 });
    const one = await nextMessage(sub);
    const two = await nextMessage(sub);
    assert.deepStrictEqual([one.text, two.text], ["unacked", "received"]);
    sub.send({ type: "pubrec", packetId: two.packetId! });
    assert.equal((await sub.next("pubrel")).packetId, two.packetId);
    // Let the in-flight state change (PUBREL sent) reach the store before the crash.
    await sub.settle(10);

    const { broker: restarted } = await crash();
    const { client: back, connack } = await MemoryClient.connect(restarted, {
      clientId: "sub",
      clean: false,
    });
    assert.equal(connack.sessionPresent, true);
    const resent = await nextMessage(back);
    assert.equal(resent.text, "unacked");
    assert.equal(resent.dup, true);
    assert.equal(resent.packetId, one.packetId);
    assert.equal((await back.next("pubrel")).packetId, two.packetId);
  },
);

crashTest(
  "Broker publishes a delayed will that was waiting when it crashed",
  async (broker, crash) => {
    const { client: watcher } = await MemoryClient.connect(broker, {
      clientId: "watcher",
      clean: false,
    });
    await subscribe(watcher, "status/#", 1);
    watcher.drop();
    const { client } = await MemoryClient.connect(broker, {
      clientId: "device",
      ...PERSISTENT_V5,
      ...EXPIRY,
      will: {
        topic: "status/device",
        payload: te.encode("gone"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    });
    client.drop();
    await waitFor(() => broker.sessions.get("device")?.pendingWill !== undefined, "pending will");
    await watcher.settle(10);

    const { broker: restarted } = await crash();
    assert.ok(restarted.sessions.get("device")?.pendingWill, "the will is waiting again");
    await restarted.listen({ port: 0, hostname: "127.0.0.1" }); // starts the broker's timer
    await waitFor(
      () => (restarted.sessions.get("watcher")?.queue.length ?? 0) > 0,
      "the will to be queued for the watcher",
    );
    const { client: back } = await MemoryClient.connect(restarted, {
      clientId: "watcher",
      clean: false,
    });
    assert.equal((await nextMessage(back)).text, "gone");
  },
);

Deno.test("Broker ends a 3.1.1 persistent session after persistent_client_expiration", async () => {
  const store = new MemoryStore();
  const broker = new Broker({ ...OPTIONS, store, persistentClientExpiration: 1 });
  try {
    await broker.listen({ port: 0, hostname: "127.0.0.1" }); // starts the broker's timer
    const { client } = await MemoryClient.connect(broker, { clientId: "old", clean: false });
    await subscribe(client, "a/#", 1);
    client.drop();
    await waitFor(() => broker.sessions.get("old")?.connection === undefined, "disconnection");
    store.commit();
    assert.equal(store.data.sessions.has("old"), true);
    await waitFor(() => !broker.sessions.has("old"), "the session to expire", 10_000);
    store.commit();
    assert.equal(store.data.sessions.has("old"), false);
    assert.equal(store.data.subscriptions.has("old"), false);
  } finally {
    await broker.close();
  }
});
