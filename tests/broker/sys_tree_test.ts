import assert from "node:assert/strict";
import type { PublishPacket } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import { subscribe, td, te, withBroker } from "./_protocol.ts";

/** Collects `$SYS` messages delivered to `client` into topic → payload. */
async function sysValues(client: MemoryClient): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const packet of await client.settle(30)) {
    if (packet.type === "publish") {
      values.set((packet as PublishPacket).topic, td.decode((packet as PublishPacket).payload));
    }
  }
  return values;
}

Deno.test("SysTree publishes Mosquitto's $SYS/broker counters that match known activity", async () => {
  await withBroker(async (broker) => {
    const clients: MemoryClient[] = [];
    for (const id of ["a", "b", "c"]) {
      clients.push((await MemoryClient.connect(broker, { clientId: id, clean: false })).client);
    }
    const a = clients[0] as MemoryClient;
    await subscribe(a, "x/#", 1);
    a.send({
      type: "publish",
      topic: "x/y",
      payload: te.encode("retained"),
      qos: 0,
      retain: true,
      dup: false,
    });
    await a.settle(10);
    // One of the three goes away; its persistent session stays (disconnected).
    (clients[2] as MemoryClient).drop();
    await a.settle(10);
    broker.sys.restart();
    const { client: watcher } = await MemoryClient.connect(broker, { clientId: "watcher" });
    await subscribe(watcher, "$SYS/broker/#");
    const values = await sysValues(watcher);
    assert.equal(values.get("$SYS/broker/version"), "midge version 0.1.0");
    // restart() ran before the watcher connected: a, b connected; c disconnected.
    assert.equal(values.get("$SYS/broker/clients/connected"), "2");
    assert.equal(values.get("$SYS/broker/clients/disconnected"), "1");
    assert.equal(values.get("$SYS/broker/clients/total"), "3");
    assert.equal(values.get("$SYS/broker/clients/maximum"), "3");
    assert.equal(values.get("$SYS/broker/subscriptions/count"), "1");
    assert.equal(values.get("$SYS/broker/publish/messages/received"), "1");
    assert.match(values.get("$SYS/broker/uptime") ?? "", /^\d+ seconds$/);
    assert.match(values.get("$SYS/broker/load/messages/received/1min") ?? "", /^\d+\.\d\d$/);
    // Only changed values are republished on the next update.
    broker.sys.update();
    const again = await sysValues(watcher);
    assert.equal(again.get("$SYS/broker/version"), undefined);
    assert.equal(again.get("$SYS/broker/clients/connected"), "3");
  }, { sysInterval: 60 });
});

Deno.test("SysTree stays silent with sysInterval 0", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { clientId: "w" });
    await subscribe(client, "$SYS/#");
    broker.sys.restart();
    assert.equal((await sysValues(client)).size, 0);
  }, { sysInterval: 0 });
});
