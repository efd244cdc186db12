import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";

const te = new TextEncoder();

Deno.test("Broker routes a QoS 1 publish to a v5 and a v4 subscriber", async () => {
  const broker = new Broker();
  try {
    const { client: sub5, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "s5",
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.receiveMaximum, 20);
    const { client: sub4 } = await MemoryClient.connect(broker, { clientId: "s4" });
    for (const [c, v5] of [[sub5, true], [sub4, false]] as const) {
      c.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{
          topicFilter: "a/+",
          qos: 1,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        }],
      });
      const suback = await c.next("suback");
      assert.deepEqual(suback.reasonCodes, [1], v5 ? "v5" : "v4");
    }
    const { client: pub } = await MemoryClient.connect(broker, { clientId: "p" });
    pub.send({
      type: "publish",
      topic: "a/b",
      payload: te.encode("hi"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
    });
    assert.equal((await pub.next("puback")).packetId, 7);
    const m5 = await sub5.next("publish");
    const m4 = await sub4.next("publish");
    assert.equal(m4.topic, "a/b");
    assert.equal(m5.qos, 1);
    assert.deepEqual(m4.payload, te.encode("hi"));
    sub5.send({ type: "puback", packetId: m5.packetId as number, reasonCode: 0 });
  } finally {
    await broker.close();
  }
});
