/**
 * Bridges between two midges in this process (Pi → hub) over real TCP: directions, prefixes,
 * QoS, loops, queueing while the uplink is down, reload, notifications, flow control, failover,
 * failures and start types.
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import type { ClientIdentity, SecurityPolicy } from "../../broker/auth/security.ts";
import { createMemoryPipe } from "../../broker/bridge/memory_pipe.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { MqttClient } from "../../client/client.ts";
import { delay, freePort, waitUntil } from "../_helpers/process.ts";
import { bridgeConfigs, Collector, publisher, startMidge, type TestMidge } from "./_bridge.ts";

const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

async function connected(midge: TestMidge, name: string): Promise<void> {
  await waitUntil(() => midge.broker.bridges.get(name)?.connected === true, `bridge ${name} up`);
}

/** A client of `broker` through memory, so it is there before the broker listens. */
async function memoryCollector(broker: Broker, filter: string): Promise<Collector & MqttClient> {
  const client = new MqttClient({
    protocolVersion: 5,
    clientId: `mem-${crypto.randomUUID().slice(0, 8)}`,
    dial: () => {
      const { transport, stream } = createMemoryPipe("127.0.0.1", 0);
      broker.handleTransport(transport);
      return Promise.resolve(stream);
    },
  });
  const messages: string[] = [];
  client.onMessage((m) => messages.push(`${m.topic} ${text(m.payload)}`));
  await client.connect();
  await client.subscribe([{ topicFilter: filter, qos: 2 }]);
  return Object.assign(client, { texts: messages }) as unknown as Collector & MqttClient;
}

Deno.test("Bridge carries out, in and both topics with prefixes at QoS 0, 1 and 2 (Pi → hub, MQTT 5)", async () => {
  await using hub = await startMidge();
  await using pi = await startMidge(`
connection hub
address 127.0.0.1:${hub.port}
remote_clientid pi7
bridge_protocol_version mqttv50
restart_timeout 1
topic sensor/# out 1 home/ pi7/
topic cmd/# in 2 home/ pi7/
topic chat/# both 2
topic "" out 0 home/alarm pi7/siren
`);
  await connected(pi, "hub");
  await using atHub = await Collector.subscribe(hub.port, ["pi7/#", "chat/#"]);
  await using atPi = await Collector.subscribe(pi.port, ["home/#", "chat/#"]);
  await using piClient = await publisher(pi.port);
  await using hubClient = await publisher(hub.port);

  await piClient.publish("home/sensor/kitchen", "21.5", { qos: 1 });
  await piClient.publish("home/alarm", "ring", { qos: 0 });
  await piClient.publish("chat/pi", "from pi", { qos: 2 });
  await piClient.publish("home/other", "stays home", { qos: 1 });
  await hubClient.publish("pi7/cmd/heating", "on", { qos: 2 });
  await hubClient.publish("chat/hub", "from hub", { qos: 2 });
  await hubClient.publish("pi7/sensor/spoof", "not for the pi", { qos: 1 });

  const hubGot = await atHub.waitFor(6);
  await atPi.waitFor(6);
  await delay(200);
  assert.deepStrictEqual(hubGot.toSorted(), [
    "chat/hub from hub",
    "chat/pi from pi",
    "pi7/cmd/heating on",
    "pi7/sensor/kitchen 21.5",
    "pi7/sensor/spoof not for the pi",
    "pi7/siren ring",
  ]);
  assert.deepStrictEqual(atPi.texts.toSorted(), [
    "chat/hub from hub",
    "chat/pi from pi",
    "home/alarm ring",
    "home/cmd/heating on",
    "home/other stays home",
    "home/sensor/kitchen 21.5",
  ]);
  const qos = (c: Collector, topic: string) => c.messages.find((m) => m.topic === topic)?.qos;
  assert.equal(qos(atHub, "pi7/sensor/kitchen"), 1);
  assert.equal(qos(atHub, "pi7/siren"), 0);
  assert.equal(qos(atHub, "chat/pi"), 2);
  assert.equal(qos(atPi, "home/cmd/heating"), 2);
  assert.equal(qos(atPi, "chat/hub"), 2);
  assert.equal(pi.broker.bridges.get("hub")?.inFlight, 0);
});

for (
  const [label, options] of [
    ["MQTT 5 with No Local", "bridge_protocol_version mqttv50"],
    ["MQTT 3.1.1 with try_private", "bridge_protocol_version mqttv311"],
    ["MQTT 3.1.1 without try_private (echoes recognised)", "try_private false"],
  ] as const
) {
  Deno.test(`Two midges bridged both ways on # exchange each message once (${label})`, async () => {
    await using hub = await startMidge();
    await using pi = await startMidge(
      `connection hub\naddress 127.0.0.1:${hub.port}\nremote_clientid pi\n${options}\ntopic # both 1\n`,
    );
    await connected(pi, "hub");
    await using atHub = await Collector.subscribe(hub.port, ["#"]);
    await using atPi = await Collector.subscribe(pi.port, ["#"]);
    await using piClient = await publisher(pi.port);
    await using hubClient = await publisher(hub.port);
    for (let i = 0; i < 5; i++) {
      await piClient.publish("house/pi", `p${i}`, { qos: 1 });
      await hubClient.publish("house/hub", `h${i}`, { qos: 1 });
    }
    await atHub.waitFor(10);
    await atPi.waitFor(10);
    // Long enough for a looping message to come round again several times.
    await delay(300);
    assert.equal(atHub.messages.length, 10, atHub.texts.join(", "));
    assert.equal(atPi.messages.length, 10, atPi.texts.join(", "));
    assert.deepStrictEqual(
      atHub.texts.filter((t) => t.startsWith("house/pi")),
      ["p0", "p1", "p2", "p3", "p4"].map((p) => `house/pi ${p}`),
    );
    assert.equal(pi.broker.bridges.get("hub")?.inFlight, 0);
  });
}

Deno.test("Bridge keeps QoS 1 messages while the uplink is down and sends them in order when it is back", async () => {
  const hubPort = freePort();
  await using pi = await startMidge(
    `connection hub\naddress 127.0.0.1:${hubPort}\nremote_clientid pi\nrestart_timeout 1\ntopic sensor/# out 1\n`,
  );
  await pi.log.waitFor(
    /Error creating bridge hub \(127\.0\.0\.1:\d+\): Connection refused\. Retrying in 1 s\./,
  );
  await using piClient = await publisher(pi.port);
  for (let i = 0; i < 300; i++) await piClient.publish("sensor/t", String(i), { qos: 1 });
  const bridge = pi.broker.bridges.get("hub")!;
  // 20 in the session's in-flight window (max_inflight_messages), the rest queued there.
  assert.equal(bridge.inFlight, 20);
  assert.equal(pi.broker.sessions.get("local.pi")?.queue.length, 280);

  const hub = new Broker();
  try {
    const atHub = await memoryCollector(hub, "sensor/#");
    await hub.listen({ port: hubPort, hostname: "127.0.0.1" });
    await waitUntil(() => atHub.texts.length >= 300, "300 messages at the hub");
    assert.deepStrictEqual(atHub.texts, Array.from({ length: 300 }, (_, i) => `sensor/t ${i}`));
    await waitUntil(() => bridge.inFlight === 0, "every message acknowledged locally");
    assert.equal(pi.broker.sessions.get("local.pi")?.queue.length, 0);
    await atHub.disconnect();
  } finally {
    await pi.close();
    await hub.close();
  }
});

Deno.test("Bridge queue is bounded by max_queued_messages, and what is dropped is counted and logged", async () => {
  const hubPort = freePort();
  await using pi = await startMidge(
    `connection hub\naddress 127.0.0.1:${hubPort}\nremote_clientid pi\nrestart_timeout 1\ntopic sensor/# out 1\n`,
    { maxQueuedMessages: 30 },
  );
  await using piClient = await publisher(pi.port);
  for (let i = 0; i < 80; i++) await piClient.publish("sensor/t", String(i), { qos: 1 });
  const bridge = pi.broker.bridges.get("hub")!;
  assert.equal(bridge.droppedMessages, 30);
  await pi.log.waitFor(
    /Warning: Bridge hub dropped 30 messages \(30 in all\): its queue is full \(max_queued_messages 30/,
  );
});

Deno.test("Bridge reload adds a bridge while the first keeps its connection, then removes and changes them", async () => {
  await using hubA = await startMidge();
  await using hubB = await startMidge();
  const a = `connection a\naddress 127.0.0.1:${hubA.port}\nremote_clientid pi-a\ntopic a/# out 1\n`;
  const b = `connection b\naddress 127.0.0.1:${hubB.port}\nremote_clientid pi-b\ntopic b/# out 1\n`;
  await using pi = await startMidge(a);
  await connected(pi, "a");
  const first = pi.broker.bridges.get("a");
  await using atA = await Collector.subscribe(hubA.port, ["a/#"]);
  await using atB = await Collector.subscribe(hubB.port, ["b/#"]);
  await using piClient = await publisher(pi.port);
  let sent = 0;
  let sending = true;
  const publishing = (async () => {
    while (sending) await piClient.publish("a/tick", String(sent++), { qos: 1 });
  })();

  await pi.broker.bridges.apply(bridgeConfigs(a + b));
  await connected(pi, "b");
  await piClient.publish("b/hello", "world", { qos: 1 });
  await atB.waitFor(1);
  sending = false;
  await publishing;
  await atA.waitFor(sent);
  // The same bridge object, one connection to hub A all along, every tick delivered in order.
  assert.equal(pi.broker.bridges.get("a"), first);
  assert.equal(pi.log.matching(/Connecting bridge a /).length, 1);
  assert.equal(hubA.log.matching(/New client connected .* as pi-a /).length, 1);
  assert.deepStrictEqual(atA.texts, Array.from({ length: sent }, (_, i) => `a/tick ${i}`));

  // Removed: it stops and its local session ends; changed: it restarts with the new topics.
  await pi.broker.bridges.apply(
    bridgeConfigs(b.replace("topic b/# out 1", "topic b/# out 1\ntopic c/# out 1")),
  );
  assert.equal(pi.broker.bridges.get("a"), undefined);
  assert.equal(pi.broker.sessions.has("local.pi-a"), false);
  await pi.log.waitFor(/Bridge b changed in the configuration, restarting it\./);
  await connected(pi, "b");
  await using atC = await Collector.subscribe(hubB.port, ["c/#"]);
  await piClient.publish("c/new", "topic", { qos: 1 });
  assert.deepStrictEqual(await atC.waitFor(1), ["c/new topic"]);
});

Deno.test("Bridge publishes $SYS/broker/connection/NAME/state and its notifications here and on the remote", async () => {
  const hub = await startMidge();
  await using pi = await startMidge(
    `connection hub\naddress 127.0.0.1:${hub.port}\nremote_clientid pi\nrestart_timeout 1\nnotification_topic bridges/pi/up\ntopic x out\n`,
  );
  await connected(pi, "hub");
  await using atPi = await Collector.subscribe(pi.port, ["$SYS/broker/connection/#", "bridges/#"]);
  await using atHub = await Collector.subscribe(hub.port, ["bridges/#"]);
  // Retained, so a client subscribing later learns the state.
  assert.deepStrictEqual((await atPi.waitFor(2)).toSorted(), [
    "$SYS/broker/connection/hub/state 1",
    "bridges/pi/up 1",
  ]);
  assert.ok(atPi.messages.every((m) => m.retain));
  assert.deepStrictEqual(await atHub.waitFor(1), ["bridges/pi/up 1"]);
  await hub.close();
  assert.deepStrictEqual((await atPi.waitFor(4)).slice(2).toSorted(), [
    "$SYS/broker/connection/hub/state 0",
    "bridges/pi/up 0",
  ]);
  await pi.log.waitFor(/Bridge hub disconnected from 127\.0\.0\.1:\d+: .*\. Retrying in 1 s\./);
});

Deno.test("Bridge respects the remote's Receive Maximum and Maximum Packet Size (MQTT 5)", async () => {
  await using hub = await startMidge("", { receiveMaximum: 2, maxPacketSize: 300 });
  await using pi = await startMidge(
    `connection hub\naddress 127.0.0.1:${hub.port}\nremote_clientid pi\nbridge_protocol_version mqttv50\ntopic t/# out 2\n`,
  );
  await connected(pi, "hub");
  await using atHub = await Collector.subscribe(hub.port, ["t/#"]);
  await using piClient = await publisher(pi.port);
  for (let i = 0; i < 30; i++) {
    if (i === 10) await piClient.publish("t/big", "x".repeat(1000), { qos: 2 });
    piClient.publish("t/small", String(i), { qos: 2 });
  }
  await atHub.waitFor(30);
  await delay(100);
  // Nothing over 2 QoS 2 messages in flight (the hub would have disconnected the bridge).
  assert.deepStrictEqual(atHub.texts, Array.from({ length: 30 }, (_, i) => `t/small ${i}`));
  await pi.log.waitFor(
    /Warning: Bridge hub dropped a message on "t\/big": Cannot send PUBLISH: size 10\d\d exceeds the broker's maximum packet size 300\./,
  );
  assert.equal(pi.log.matching(/Connecting bridge hub/).length, 1);
  await waitUntil(() => pi.broker.bridges.get("hub")?.inFlight === 0, "nothing left in flight");
});

Deno.test("Bridge fails over to the next address and back to the first once it answers (round_robin false)", async () => {
  const mainPort = freePort();
  await using backup = await startMidge();
  await using pi = await startMidge(
    `connection hub\naddresses 127.0.0.1:${mainPort} 127.0.0.1:${backup.port}\nremote_clientid pi\nrestart_timeout 1\ntopic x/# out 1\n`,
  );
  await connected(pi, "hub");
  assert.equal(backup.log.matching(/as pi /).length, 1);
  await using main = await startMidge();
  // Listening on the main address now: a stand-in that forwards to a fresh midge.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: mainPort });
  const relaying = (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: main.port });
      conn.readable.pipeTo(upstream.writable).catch(() => {});
      upstream.readable.pipeTo(conn.writable).catch(() => {});
    }
  })();
  try {
    await main.log.waitFor(/New client connected .* as pi /);
    await pi.log.waitFor(/Bridge hub: main address 127\.0\.0\.1:\d+ is back, switching to it\./);
    await using atMain = await Collector.subscribe(main.port, ["x/#"]);
    await using piClient = await publisher(pi.port);
    await piClient.publish("x/1", "via main", { qos: 1 });
    assert.deepStrictEqual(await atMain.waitFor(1), ["x/1 via main"]);
  } finally {
    await pi.close();
    listener.close();
    await relaying.catch(() => {});
  }
});

/** Accepts only user "pi" with password "right"; 0x86 otherwise. */
const PASSWORD_CHECK: SecurityPolicy = {
  restrictsRead: false,
  authenticate(identity: ClientIdentity, password: Uint8Array | undefined) {
    const ok = identity.username === "pi" && password !== undefined && text(password) === "right";
    return ok ? 0 : 0x86;
  },
  canWrite: () => true,
  canRead: () => true,
  canSubscribe: () => true,
};

Deno.test("Bridge with a wrong password logs why and when it retries, and local clients go on", async () => {
  const hub = new Broker();
  const [listener] = await hub.listen({
    port: 0,
    hostname: "127.0.0.1",
    settings: { security: PASSWORD_CHECK },
  });
  try {
    await using pi = await startMidge(
      `connection hub\naddress 127.0.0.1:${
        listener!.port
      }\nremote_clientid pi\nremote_username pi\nremote_password wrong\nrestart_timeout 1\ntopic x/# both 1\n`,
    );
    const lines = await pi.log.waitFor(
      /^error Connection Refused: bad user name or password \(bridge hub, 127\.0\.0\.1:\d+\)\. Retrying in 1 s\.$/,
      2,
    );
    assert.equal(lines.length, 2);
    await using atPi = await Collector.subscribe(pi.port, ["x/#"]);
    await using piClient = await publisher(pi.port);
    await piClient.publish("x/local", "still works", { qos: 1 });
    assert.deepStrictEqual(await atPi.waitFor(1), ["x/local still works"]);
    assert.equal(pi.broker.bridges.get("hub")?.connected, false);
  } finally {
    await hub.close();
  }
});

Deno.test("Bridge waits restart_timeout between attempts and tells refused from unresolvable", async () => {
  const port = freePort();
  await using pi = await startMidge(
    `connection a\naddress 127.0.0.1:${port}\nremote_clientid pa\nrestart_timeout 1\ntopic x out\n` +
      `connection b\naddress nosuchhost.invalid\nremote_clientid pb\nstart_type once\ntopic x out\n`,
  );
  await pi.log.waitFor(/Connecting bridge a \(127\.0\.0\.1:\d+\)/, 3);
  await pi.log.waitFor(
    /^error Error creating bridge b \(nosuchhost\.invalid:1883\): Unable to resolve host "nosuchhost\.invalid" .*\. Not retrying \(start_type once\)\.$/,
  );
  assert.equal(pi.log.matching(/Connecting bridge b /).length, 1);
  // Each attempt but the first follows a failure that announced it.
  const refused = pi.log.matching(
    /^error Error creating bridge a \(127\.0\.0\.1:\d+\): Connection refused\. Retrying in 1 s\.$/,
  );
  const attempts = pi.log.matching(/Connecting bridge a /);
  assert.ok(refused.length >= attempts.length - 1, pi.log.lines.join("\n"));
});

Deno.test("Bridge with start_type lazy connects at the threshold and stops after idle_timeout", async () => {
  await using hub = await startMidge();
  await using pi = await startMidge(
    `connection hub\naddress 127.0.0.1:${hub.port}\nremote_clientid pi\nstart_type lazy\nthreshold 3\nidle_timeout 1\ntopic x/# out 1\n`,
  );
  await using atHub = await Collector.subscribe(hub.port, ["x/#"]);
  await using piClient = await publisher(pi.port);
  await piClient.publish("x/1", "a", { qos: 1 });
  await piClient.publish("x/2", "b", { qos: 1 });
  await delay(100);
  assert.equal(pi.broker.bridges.get("hub")?.state, "idle");
  assert.equal(pi.log.matching(/Connecting bridge hub/).length, 0);
  await piClient.publish("x/3", "c", { qos: 1 });
  assert.deepStrictEqual(await atHub.waitFor(3), ["x/1 a", "x/2 b", "x/3 c"]);
  await pi.log.waitFor(/Bridge connection hub has exceeded idle timeout, disconnecting\./);
  assert.equal(pi.broker.bridges.get("hub")?.state, "idle");
});

Deno.test("Bridge forwards retained messages as retained unless bridge_outgoing_retain false, and notifications_local_only stays local", async () => {
  await using hub = await startMidge();
  await using pi = await startMidge();
  await using local = await publisher(pi.port);
  await local.publish("keep/x", "kept", { qos: 1, retain: true });
  await local.publish("drop/x", "not kept", { qos: 1, retain: true });
  await pi.broker.bridges.apply(bridgeConfigs(`
connection a
address 127.0.0.1:${hub.port}
remote_clientid pi-a
topic keep/# out 1
connection b
address 127.0.0.1:${hub.port}
remote_clientid pi-b
bridge_outgoing_retain false
notifications_local_only true
topic drop/# out 1
`));
  await connected(pi, "a");
  await connected(pi, "b");
  await waitUntil(
    () => pi.broker.bridges.all.every((bridge) => bridge.inFlight === 0),
    "retained messages passed on",
  );
  await delay(100);
  // A subscriber arriving later at the hub sees what the hub retained.
  await using late = await Collector.subscribe(hub.port, [
    "keep/#",
    "drop/#",
    "$SYS/broker/connection/#",
  ]);
  await delay(200);
  assert.deepStrictEqual(late.texts.toSorted(), [
    "$SYS/broker/connection/pi-a/state 1",
    "keep/x kept",
  ]);
  await using atPi = await Collector.subscribe(pi.port, ["$SYS/broker/connection/#"]);
  assert.deepStrictEqual((await atPi.waitFor(4)).toSorted(), [
    "$SYS/broker/connection/a/state 1",
    "$SYS/broker/connection/b/state 1",
    "$SYS/broker/connection/pi-a/state 1",
    "$SYS/broker/connection/pi-b/state 1",
  ]);
});

Deno.test("Bridge publishes here under local ACLs (acl_file rules for local_username)", async () => {
  await using hub = await startMidge();
  const dir = await Deno.makeTempDir({ prefix: "midge_bridge_acl_" });
  const pi = new Broker({ log: hub.log.logger });
  try {
    await Deno.writeTextFile(
      `${dir}/acl`,
      "topic read #\n\nuser bridge\ntopic readwrite cmd/#\ntopic read secret/#\n",
    );
    const port = freePort();
    await pi.applyConfig(parseConfig(
      `listener ${port} 127.0.0.1\nallow_anonymous true\nacl_file ${dir}/acl\n` +
        `connection hub\naddress 127.0.0.1:${hub.port}\nremote_clientid pi\nlocal_username bridge\n` +
        "bridge_protocol_version mqttv50\ntopic cmd/# in 1\ntopic secret/# in 1\n",
      { file: `${dir}/midge.conf` },
    ));
    await waitUntil(() => pi.bridges.get("hub")?.connected === true, "bridge up");
    await using atPi = await Collector.subscribe(port, ["#"]);
    await using cloud = await publisher(hub.port);
    await cloud.publish("secret/plan", "not allowed here", { qos: 1 });
    await cloud.publish("cmd/heating", "on", { qos: 1 });
    assert.deepStrictEqual(await atPi.waitFor(1), ["cmd/heating on"]);
    await hub.log.waitFor(
      /Warning: Bridge hub: this broker refused a message on "secret\/plan" \(reason code 0x87, e\.g\. its ACL for bridge\); it is dropped\./,
    );
    await delay(100);
    assert.deepStrictEqual(atPi.texts, ["cmd/heating on"]);
  } finally {
    await pi.close();
    await Deno.remove(dir, { recursive: true });
  }
});
