/**
 * Will messages (sections 3.1.2.5, 3.1.3.2, 3.14.4): the triggers that publish them, the ones
 * that do not, will QoS/retain, Will Delay Interval and will properties, over in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ProtocolVersion, Will } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import {
  expectNothing,
  nextMessage,
  sleep,
  subscribe,
  te,
  VERSIONS,
  withBroker,
} from "./_protocol.ts";

function willOf(topic: string, payload = "bye"): Will {
  return { topic, payload: te.encode(payload), qos: 0, retain: false };
}

/** A watcher subscribed to `will/#` and a client `id` with a will on `will/<id>`. */
async function setUp(
  broker: Parameters<typeof MemoryClient.connect>[0],
  version: ProtocolVersion,
  id: string,
  extra: Partial<Parameters<typeof MemoryClient.connect>[1]> = {},
) {
  const { client: watcher } = await MemoryClient.connect(broker, {
    protocolVersion: version,
    clientId: `watch-${id}`,
  });
  await subscribe(watcher, "will/#", 2);
  const { client } = await MemoryClient.connect(broker, {
    protocolVersion: version,
    clientId: id,
    will: willOf(`will/${id}`),
    ...extra,
  });
  return { watcher, client };
}

Deno.test("Broker publishes the will when the network connection is lost", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { watcher, client } = await setUp(broker, version, "lost");
      client.drop();
      // [MQTT-3.1.2-8]: closed without DISCONNECT → the will is published.
      const m = await nextMessage(watcher);
      assert.deepEqual([m.topic, m.text], ["will/lost", "bye"], `v${version}`);
    });
  }
});

Deno.test("Broker does not publish the will after a normal DISCONNECT", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { watcher, client } = await setUp(broker, version, "normal");
      client.send({ type: "disconnect", ...(version === 5 ? { reasonCode: 0 } : {}) });
      await client.closedByBroker();
      // [MQTT-3.1.2-10] / [MQTT-3.14.4-3]: DISCONNECT (0x00) deletes the will.
      await expectNothing(watcher, 50, `v${version}`);
    });
  }
});

Deno.test("Broker publishes the will after v5 DISCONNECT 0x04 (Disconnect with Will Message)", async () => {
  await withBroker(async (broker) => {
    const { watcher, client } = await setUp(broker, 5, "with-will");
    client.send({ type: "disconnect", reasonCode: 0x04 });
    await client.closedByBroker();
    // Section 3.14.2.1: 0x04 → the server publishes the will.
    const m = await nextMessage(watcher);
    assert.equal(m.topic, "will/with-will");
  });
});

Deno.test("Broker publishes the will when it closes a client for a protocol error", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { watcher, client } = await setUp(broker, version, "bad");
      // A second CONNECT is a Protocol Error [MQTT-3.1.0-2].
      client.send({
        type: "connect",
        protocolName: "MQTT",
        protocolVersion: version,
        clean: true,
        keepalive: 60,
        clientId: "bad",
      });
      await client.closedByBroker();
      // [MQTT-3.1.2-8]: the server closes the connection because of a protocol error → will.
      assert.equal((await nextMessage(watcher)).topic, "will/bad", `v${version}`);
    });
  }
});

Deno.test("Broker disconnects a client silent for 1.5 keepalives and publishes its will", async () => {
  await withBroker(async (broker) => {
    const { watcher, client: c5 } = await setUp(broker, 5, "ka5", { keepalive: 1 });
    const { client: c4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "ka4",
      keepalive: 1,
      will: willOf("will/ka4"),
    });
    // A client that pings stays connected over the same time.
    const { client: pinger } = await MemoryClient.connect(broker, {
      clientId: "ping",
      keepalive: 1,
    });
    let pinging = true;
    const pings = (async () => {
      while (pinging) {
        pinger.send({ type: "pingreq" });
        await pinger.next("pingresp");
        await sleep(400);
      }
    })();
    try {
      await sleep(900);
      // Not before one and a half times the keepalive [MQTT-3.1.2-24].
      assert.equal(c5.closed, false);
      assert.equal(c4.closed, false);
      const got5 = await c5.closedByBroker(4000);
      await c4.closedByBroker(4000);
      // Section 4.13: a v5 client is told why (0x8D Keep Alive timeout).
      assert.deepEqual(got5.map((p) => p.type === "disconnect" && p.reasonCode), [0x8d]);
      const topics = [(await nextMessage(watcher)).topic, (await nextMessage(watcher)).topic];
      assert.deepEqual(topics.sort(), ["will/ka4", "will/ka5"]);
      assert.equal(pinger.closed, false);
    } finally {
      pinging = false;
      await pings;
    }
  });
});

Deno.test("Broker publishes the will with its QoS and RETAIN flag", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { watcher, client } = await setUp(broker, version, "qr", {
        will: { topic: "will/qr", payload: te.encode("retained will"), qos: 1, retain: true },
      });
      client.drop();
      const m = await nextMessage(watcher);
      // [MQTT-3.1.2-14..17]: will QoS 1 (watcher granted 2) and will retain.
      assert.equal(m.qos, 1, `v${version}`);
      assert.equal(broker.retained.get("will/qr")?.payload.length, 13, `v${version}`);
      const { client: late } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "late",
      });
      await subscribe(late, "will/qr", 1);
      const r = await nextMessage(late);
      assert.deepEqual([r.text, r.retain, r.qos], ["retained will", true, 1], `v${version}`);
    });
  }
});

Deno.test("Broker delays a will by its Will Delay Interval and cancels it on reconnect", async () => {
  await withBroker(async (broker) => {
    const { client: watcher } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "watcher",
    });
    await subscribe(watcher, "will/#");
    const delayed = (id: string) => ({
      protocolVersion: 5 as const,
      clientId: id,
      clean: false,
      // The session must outlive the connection, or the will goes when it ends [MQTT-3.1.3-9].
      properties: { sessionExpiryInterval: 60 },
      will: { ...willOf(`will/${id}`), properties: { willDelayInterval: 1 } },
    });
    const { client: back } = await MemoryClient.connect(broker, delayed("back"));
    const { client: gone } = await MemoryClient.connect(broker, delayed("gone"));
    // A will delay longer than the session: the will goes when the session ends (1 s).
    const { client: ends } = await MemoryClient.connect(broker, {
      ...delayed("ends"),
      properties: { sessionExpiryInterval: 1 },
      will: { ...willOf("will/ends"), properties: { willDelayInterval: 60 } },
    });
    // "back" drops first, so its will (were it not cancelled) would be due no later than gone's.
    back.drop();
    gone.drop();
    ends.drop();
    await MemoryClient.connect(broker, delayed("back"));
    // [MQTT-3.1.3-9]: not at once...
    await expectNothing(watcher, 300, "no will before the delay");
    // ...but after the delay, or when the session ends if sooner; the reconnected client's will
    // is cancelled.
    const topics = [
      (await nextMessage(watcher, 4000)).topic,
      (await nextMessage(watcher, 4000)).topic,
    ];
    assert.deepEqual(topics.sort(), ["will/ends", "will/gone"]);
    await expectNothing(watcher, 50, "the will of the reconnected client");
  });
});

Deno.test("Broker passes will properties through to subscribers", async () => {
  await withBroker(async (broker) => {
    const properties = {
      payloadFormatIndicator: 1,
      contentType: "text/plain",
      responseTopic: "reply/here",
      correlationData: new Uint8Array([1, 2, 3]),
      userProperties: [["z", "1"], ["a", "2"], ["z", "3"]] as [string, string][],
    };
    const { watcher, client } = await setUp(broker, 5, "props", {
      will: { ...willOf("will/props"), properties: { ...properties, messageExpiryInterval: 60 } },
    });
    client.drop();
    const m = await nextMessage(watcher);
    // Section 3.1.3.2: the will's properties are sent with it; [MQTT-3.1.3-10]: user properties keep their
    // order [MQTT-3.3.2-18]; the expiry counts down; Will Delay Interval is not a PUBLISH property.
    const { messageExpiryInterval, ...rest } = m.properties ?? {};
    assert.deepEqual(rest, properties);
    assert.ok(
      messageExpiryInterval !== undefined && messageExpiryInterval <= 60,
      `expiry ${messageExpiryInterval}`,
    );
  });
});
