/**
 * CONNECT / CONNACK / AUTH behaviour of the broker core (sections 3.1, 3.2, 3.15, 4.12), over
 * in-memory clients.
 *
 * @module
 */

import assert from "node:assert/strict";
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

/** Concatenates everything the broker wrote to `client`. */
function writtenBytes(client: MemoryClient): number[] {
  return client.written.flatMap((chunk) => [...chunk]);
}

Deno.test("Broker accepts MQTT 3.1 (MQIsdp, level 3) clients and routes their messages", async () => {
  await withBroker(async (broker) => {
    const { client: sub, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 3,
      clientId: "v31-sub",
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, false);
    assert.deepEqual((await subscribe(sub, "v31/t", 1)).reasonCodes, [1]);
    const { client: pub } = await MemoryClient.connect(broker, {
      protocolVersion: 3,
      clientId: "v31-pub",
    });
    await publish(pub, "v31/t", "hello", { qos: 1, packetId: 3 });
    const message = await nextMessage(sub);
    assert.equal(message.topic, "v31/t");
    assert.equal(message.text, "hello");
    assert.equal(message.qos, 1);
  });
});

Deno.test("Broker refuses protocol level 6 with CONNACK return code 1 and closes", async () => {
  await withBroker(async (broker) => {
    const client = MemoryClient.open(broker, 4);
    client.sendBytes(
      new Uint8Array([
        0x10, // CONNECT
        13, // remaining length
        0x00,
        0x04,
        0x4d,
        0x51,
        0x54,
        0x54, // "MQTT"
        0x06, // protocol level 6: unknown
        0x02, // clean session
        0x00,
        0x3c, // keep alive 60
        0x00,
        0x01,
        0x63, // client id "c"
      ]),
    );
    await client.closedByBroker();
    // [MQTT-3.1.2-2]: CONNACK return code 0x01 (unacceptable protocol level) in the 3.1.1 format,
    // then the connection is closed.
    assert.deepEqual(writtenBytes(client), [0x20, 0x02, 0x00, 0x01]);
  });
});

Deno.test("Broker closes a connection whose first packet is not CONNECT, without CONNACK", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: sub } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "watcher",
      });
      await subscribe(sub, "first/#");
      const client = MemoryClient.open(broker, version);
      client.send({
        type: "publish",
        topic: "first/x",
        payload: te.encode("sneaky"),
        qos: 0,
        retain: false,
        dup: false,
      });
      // [MQTT-3.1.0-1]: the server closes; nothing is sent to something that is not a client.
      const got = await client.closedByBroker();
      assert.deepEqual(got, [], `v${version}`);
      assert.equal(client.written.length, 0, `v${version}`);
      await expectNothing(sub, 30, `v${version}: the PUBLISH must not be routed`);
    });
  }
});

Deno.test("Broker closes a non-CONNECT first packet on its first byte, before the body arrives", async () => {
  await withBroker(async (broker) => {
    const client = MemoryClient.open(broker, 4);
    // A PUBLISH header announcing ~2 MB that never comes: [MQTT-3.1.0-1] needs only the type
    // nibble, and a broker that waits for the body lets unauthenticated peers make it buffer.
    client.sendBytes(new Uint8Array([0x30, 0xff, 0xff, 0x7f]));
    assert.deepEqual(await client.closedByBroker(500), []);
    assert.equal(client.written.length, 0);
  });
});

Deno.test("Broker treats a second CONNECT as a protocol error (v5 DISCONNECT 0x82)", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "twice",
      });
      client.send({
        type: "connect",
        protocolName: "MQTT",
        protocolVersion: version,
        clean: true,
        keepalive: 60,
        clientId: "twice",
      });
      // [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error; the connection is closed.
      const got = await client.closedByBroker();
      if (version === 5) {
        assert.equal(got.length, 1);
        assert.equal(got[0]?.type, "disconnect");
        assert.equal(got[0]?.type === "disconnect" && got[0].reasonCode, 0x82);
      } else {
        assert.deepEqual(got, []);
      }
    });
  }
});

Deno.test("Broker assigns an 'auto-' client id to an empty id with clean start", async () => {
  await withBroker(async (broker) => {
    const { connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "",
      clean: true,
    });
    assert.equal(connack.reasonCode, 0);
    // [MQTT-3.1.3-7] / section 3.2.2.3.7: the assigned id is returned in the CONNACK.
    const assigned = connack.properties?.assignedClientIdentifier;
    assert.ok(assigned?.startsWith("auto-"), `assigned id: ${assigned}`);
    assert.ok(broker.sessions.has(assigned as string));

    const { connack: v4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "",
      clean: true,
    });
    // [MQTT-3.1.3-6]: 3.1.1 accepts an empty id with clean session 1 (it cannot be told the id).
    assert.equal(v4.reasonCode, 0);
    assert.equal(v4.properties, undefined);
  });
});

Deno.test("Broker refuses an empty client id with clean session 0 (3.1.1 return code 2)", async () => {
  await withBroker(async (broker) => {
    const { client, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "",
      clean: false,
    });
    // [MQTT-3.1.3-8]: CONNACK 0x02 (identifier rejected), then close.
    assert.equal(connack.reasonCode, 0x02);
    assert.equal(connack.sessionPresent, false);
    await client.closedByBroker();

    const { client: c5, connack: ack5 } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "",
      clean: false,
    });
    // Mosquitto 2.0 refuses a v5 client asking for a persistent session with no id: 0x85.
    assert.equal(ack5.reasonCode, 0x85);
    await c5.closedByBroker();
  });
});

Deno.test("Broker session takeover: old v5 connection gets DISCONNECT 0x8E and is closed", async () => {
  await withBroker(async (broker) => {
    const { client: old } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "dup-id",
    });
    const { client: fresh, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "dup-id",
    });
    assert.equal(connack.reasonCode, 0);
    // [MQTT-3.1.4-3] and section 4.13: DISCONNECT 0x8E (Session taken over), then close.
    const got = await old.closedByBroker();
    assert.equal(got.length, 1);
    assert.equal(got[0]?.type === "disconnect" && got[0].reasonCode, 0x8e);
    // The new connection is the one that works.
    assert.equal(fresh.closed, false);
    fresh.send({ type: "pingreq" });
    await fresh.next("pingresp");

    const { client: old4 } = await MemoryClient.connect(broker, { clientId: "dup4" });
    await MemoryClient.connect(broker, { clientId: "dup4" });
    // [MQTT-3.1.4-2] (3.1.1): the existing client is disconnected; 3.1.1 has no DISCONNECT to it.
    assert.deepEqual(await old4.closedByBroker(), []);
  });
});

Deno.test("Broker session takeover publishes the old will only when the new connection starts clean", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const { client: watcher } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "watcher",
      });
      await subscribe(watcher, "will/#");
      // A session that outlives the connection: clean session 0 (v4) or an expiry (v5).
      const persistent = version === 5
        ? { clean: false, properties: { sessionExpiryInterval: 60 } }
        : { clean: false };
      const will = { topic: "will/tk", payload: te.encode("gone"), qos: 0 as const, retain: false };

      const { client: old } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "tk",
        will,
        ...persistent,
      });
      // Resuming the session (clean false): as Mosquitto, no will from the old connection.
      const { client: resumed, connack } = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "tk",
        will,
        ...persistent,
      });
      assert.equal(connack.sessionPresent, true, `v${version}`);
      await old.closedByBroker();
      await expectNothing(watcher, 50, `v${version}: no will when the session is resumed`);

      // Clean start ends the old session: the old connection's will goes out.
      await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "tk",
        clean: true,
      });
      await resumed.closedByBroker();
      const message = await nextMessage(watcher);
      assert.equal(message.topic, "will/tk", `v${version}`);
      assert.equal(message.text, "gone", `v${version}`);
      await expectNothing(watcher, 30, `v${version}: the will goes once`);
    });
  }
});

Deno.test("Broker sets session present only when a stored session is resumed", async () => {
  for (const version of VERSIONS) {
    await withBroker(async (broker) => {
      const persistent = version === 5
        ? { clean: false, properties: { sessionExpiryInterval: 60 } }
        : { clean: false };
      const first = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sp",
        ...persistent,
      });
      // [MQTT-3.2.2-3]: no stored session yet → 0.
      assert.equal(first.connack.sessionPresent, false, `v${version} first`);
      first.client.send({ type: "disconnect", ...(version === 5 ? { reasonCode: 0 } : {}) });
      await first.client.closedByBroker();

      const second = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sp",
        ...persistent,
      });
      // [MQTT-3.2.2-2]: clean 0 and a stored session → 1.
      assert.equal(second.connack.sessionPresent, true, `v${version} resumed`);
      second.client.send({ type: "disconnect", ...(version === 5 ? { reasonCode: 0 } : {}) });
      await second.client.closedByBroker();

      const third = await MemoryClient.connect(broker, {
        protocolVersion: version,
        clientId: "sp",
        clean: true,
      });
      // [MQTT-3.2.2-1]: clean 1 → session present 0.
      assert.equal(third.connack.sessionPresent, false, `v${version} clean`);
    });
  }
});

Deno.test("Broker CONNACK carries Mosquitto 2.0's v5 properties and none below v5", async () => {
  await withBroker(async (broker) => {
    const { connack } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "p5" });
    assert.equal(connack.reasonCode, 0);
    assert.deepEqual(connack.properties, { receiveMaximum: 20, topicAliasMaximum: 10 });
    const { connack: v4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "p4",
    });
    assert.deepEqual(v4, { type: "connack", sessionPresent: false, reasonCode: 0 });
  });
});

Deno.test("Broker refuses an authentication method in CONNECT with CONNACK 0x8C", async () => {
  await withBroker(async (broker) => {
    const { client, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "auth",
      properties: { authenticationMethod: "SCRAM-SHA-1" },
    });
    // Section 4.12 / [MQTT-4.12.0-1]: an unsupported method → 0x8C Bad authentication method.
    assert.equal(connack.reasonCode, 0x8c);
    assert.equal(connack.sessionPresent, false);
    await client.closedByBroker();
    assert.equal(broker.sessions.has("auth"), false);
  });
});

Deno.test("Broker answers AUTH after CONNECT with DISCONNECT 0x82, with or without a method", async () => {
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { protocolVersion: 5, clientId: "a1" });
    client.send({ type: "auth", reasonCode: 0x19 });
    // [MQTT-4.12.0-7]: no method was agreed at CONNECT → Protocol Error.
    const got = await client.closedByBroker();
    assert.equal(got.length, 1);
    assert.equal(got[0]?.type === "disconnect" && got[0].reasonCode, 0x82);

    const { client: c2 } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "a2",
    });
    // Re-authentication with a method not agreed at CONNECT [MQTT-4.12.1-1] is refused. 0x8C is
    // not a DISCONNECT reason code (table 3.14.2.1), so the answer is 0x82, as Mosquitto sends.
    assert.doesNotThrow(() =>
      c2.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "PLAIN" } })
    );
    const got2 = await c2.closedByBroker();
    assert.equal(got2.length, 1);
    assert.equal(got2[0]?.type === "disconnect" && got2[0].reasonCode, 0x82);
  });
});

Deno.test("Broker refuses an empty client id from an MQTT 3.1 client (return code 2)", async () => {
  await withBroker(async (broker) => {
    const { client, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 3,
      clientId: "",
      clean: true,
    });
    // MQTT 3.1 (section 3.1, "Client Identifier"): 1 to 23 characters; Mosquitto answers 0x02.
    assert.equal(connack.reasonCode, 0x02);
    await client.closedByBroker();
  });
});

Deno.test("Broker imposes maxKeepalive: v5 Server Keep Alive, 3.1.1 refused", async () => {
  await withBroker(async (broker) => {
    const { client, connack } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "k5",
      keepalive: 60,
    });
    // [MQTT-3.2.2-21]: the client must use the Server Keep Alive the CONNACK carries.
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.serverKeepAlive, 10);
    assert.equal(client.closed, false);
    const { client: c4, connack: ack4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "k4",
      keepalive: 60,
    });
    // 3.1.1 cannot be told another keepalive; Mosquitto 2.0 refuses it with return code 2.
    assert.equal(ack4.reasonCode, 0x02);
    await c4.closedByBroker();
    const { connack: ok4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "k4ok",
      keepalive: 10,
    });
    assert.equal(ok4.reasonCode, 0);
  }, { maxKeepalive: 10 });
});

Deno.test("Broker.close() sends v5 clients DISCONNECT 0x8B and closes every client", async () => {
  await withBroker(async (broker) => {
    const { client: c5 } = await MemoryClient.connect(broker, {
      protocolVersion: 5,
      clientId: "c5",
    });
    const { client: c4 } = await MemoryClient.connect(broker, {
      protocolVersion: 4,
      clientId: "c4",
    });
    await broker.close();
    // Section 4.13: 0x8B Server shutting down; 3.1.1 clients are just closed.
    const got = await c5.closedByBroker();
    assert.deepEqual(got.map((p) => p.type === "disconnect" && p.reasonCode), [0x8b]);
    assert.deepEqual(await c4.closedByBroker(), []);
    assert.equal(broker.connections.size, 0);
  });
});
