/**
 * The metrics count exactly what happened: known traffic gives known counter values, by QoS and
 * by reason, and `$SYS`, `broker.stats` and `/metrics` show the same numbers because they read
 * one registry.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { Broker } from "../../broker/broker.ts";
import { BrokerListener } from "../../broker/broker_listener.ts";
import type { SecurityPolicy } from "../../broker/auth/security.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { defaultListenerSettings } from "../../broker/options.ts";
import { MemoryStore } from "../../broker/store/memory_store.ts";
import type { ConnectPacket } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import { DEFAULT_TIMEOUT_MS, freePort, waitUntil, withTimeout } from "../_helpers/process.ts";
import { publish, sleep, subscribe, td, withBroker } from "../broker/_protocol.ts";
import { scrape, sumOf } from "./_prom.ts";

/** The retained `$SYS` value the broker published last on `topic`. */
function sys(broker: Broker, topic: string): string | undefined {
  const message = broker.retained.get(`$SYS/broker/${topic}`);
  return message && td.decode(message.payload);
}

/** Connects a MemoryClient through `listener` (to get that listener's settings). */
async function connectThrough(
  broker: Broker,
  listener: BrokerListener,
  connect: Partial<ConnectPacket>,
): Promise<MemoryClient> {
  const client = new MemoryClient(4);
  broker.handleTransport(client, listener);
  client.send({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    clientId: "",
    ...connect,
  } as ConnectPacket);
  await client.next("connack");
  return client;
}

Deno.test("Broker metrics count known publishes exactly by QoS, and $SYS and stats agree", async () => {
  await withBroker(async (broker) => {
    const { client: sub0 } = await MemoryClient.connect(broker, { clientId: "sub0" });
    const { client: sub2 } = await MemoryClient.connect(broker, { clientId: "sub2" });
    const { client: pub } = await MemoryClient.connect(broker, {
      clientId: "pub",
      protocolVersion: 5,
    });
    await subscribe(sub0, "t/#", 0);
    await subscribe(sub2, "t/#", 2);
    const sent = { 0: 10, 1: 7, 2: 5 } as const;
    for (const qos of [0, 1, 2] as const) {
      for (let i = 0; i < sent[qos]; i++) {
        await publish(pub, "t/x", `m${i}`, { qos, packetId: i + 1 });
      }
    }
    await sub0.settle(20);
    await sub2.settle(20);

    const s = broker.metrics.registry.collect();
    const received = (qos: number) =>
      s.sum("midge_messages_received_total", (l) => l.qos === String(qos));
    const delivered = (qos: number) =>
      s.sum("midge_messages_sent_total", (l) => l.qos === String(qos));
    assert.deepEqual([received(0), received(1), received(2)], [10, 7, 5]);
    // sub0 gets all 22 at QoS 0; sub2 gets each at the message's own QoS (sub2 never acks,
    // and 12 in flight stay under the window of 20).
    assert.deepEqual([delivered(0), delivered(1), delivered(2)], [32, 7, 5]);
    assert.equal(s.value("midge_clients_connected"), 3);
    assert.equal(s.value("midge_connects_total", { result: "accepted" }), 3);
    assert.equal(s.value("midge_connections_total", { listener: "direct" }), 3);
    assert.equal(s.value("midge_subscriptions"), 2);

    // One registry: $SYS and broker.stats read the same counters.
    broker.sys.update();
    assert.equal(sys(broker, "publish/messages/received"), "22");
    assert.equal(sys(broker, "publish/messages/sent"), "44");
    assert.equal(broker.stats.publishReceived, 22);
    assert.equal(broker.stats.publishSent, 44);
    const after = broker.metrics.registry.collect();
    assert.equal(
      sys(broker, "messages/received"),
      String(after.sum("midge_packets_received_total")),
    );
    assert.equal(sys(broker, "bytes/received"), String(after.sum("midge_bytes_received_total")));
    assert.equal(broker.stats.messagesReceived, after.sum("midge_packets_received_total"));
    assert.equal(sys(broker, "clients/connected"), "3");
  }, { sysInterval: 60 });
});

Deno.test("Broker metrics count connects and disconnects by reason", async () => {
  await withBroker(async (broker) => {
    const { client: a } = await MemoryClient.connect(broker, { clientId: "a" });
    const { client: b } = await MemoryClient.connect(broker, { clientId: "b" });
    await MemoryClient.connect(broker, { clientId: "c" });
    // [MQTT-3.1.4-3]: a second "c" takes the session over.
    await MemoryClient.connect(broker, { clientId: "c" });
    a.send({ type: "disconnect" });
    b.drop();
    // An MQTT 5 client that wants a persistent session with no id is refused (0x85).
    const refused = MemoryClient.open(broker, 5);
    refused.send({
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 5,
      clean: false,
      keepalive: 60,
      clientId: "",
    } as ConnectPacket);
    await refused.closedByBroker();
    await a.closedByBroker();
    await sleep(20);
    const s = broker.metrics.registry.collect();
    assert.equal(s.value("midge_connects_total", { result: "accepted" }), 4);
    assert.equal(s.value("midge_connects_total", { result: "invalid_client_id" }), 1);
    assert.equal(s.value("midge_disconnects_total", { reason: "client" }), 1);
    assert.equal(s.value("midge_disconnects_total", { reason: "connection_lost" }), 1);
    assert.equal(s.value("midge_disconnects_total", { reason: "taken_over" }), 1);
    assert.equal(s.value("midge_clients_connected"), 1);
    assert.equal(s.value("midge_clients_maximum"), 3);
    assert.equal(broker.clientsConnected, 1);
  });
});

Deno.test("Broker metrics count dropped messages by reason", async () => {
  await withBroker(async (broker) => {
    // Queue full: an offline persistent session with room for 3.
    const { client: offline } = await MemoryClient.connect(broker, {
      clientId: "offline",
      clean: false,
    });
    await subscribe(offline, "q/#", 1);
    // Expiry: an MQTT 5 session that stays away longer than its message lives.
    const { client: late } = await MemoryClient.connect(broker, {
      clientId: "late",
      protocolVersion: 5,
      clean: true,
      properties: { sessionExpiryInterval: 60 },
    });
    await subscribe(late, "e/#", 1);
    offline.send({ type: "disconnect" });
    late.send({ type: "disconnect", reasonCode: 0 });
    await offline.closedByBroker();
    await late.closedByBroker();

    const { client: pub } = await MemoryClient.connect(broker, {
      clientId: "pub",
      protocolVersion: 5,
    });
    for (let i = 1; i <= 5; i++) await publish(pub, "q/x", `q${i}`, { qos: 1, packetId: i });
    await publish(pub, "e/x", "short-lived", {
      qos: 1,
      packetId: 6,
      properties: { messageExpiryInterval: 1 },
    });
    // Over message_size_limit (16 bytes here): refused with 0x97 and counted.
    await publish(pub, "q/big", "x".repeat(17), { qos: 1, packetId: 7 });

    // ACL: a listener whose policy refuses writes to secret/#.
    const denyingPolicy: SecurityPolicy = {
      authenticate: () => 0,
      canWrite: (_identity, topic) => !topic.startsWith("secret/"),
      canRead: () => true,
      canSubscribe: () => true,
      restrictsRead: false,
    };
    const listener = new BrokerListener({ protocol: "mqtt", port: 0 }, {
      ...defaultListenerSettings(broker.options),
      security: denyingPolicy,
    });
    listener.metrics = broker.metrics.listener("acl-test");
    const denied = await connectThrough(broker, listener, { clientId: "denied" });
    denied.send({
      type: "publish",
      topic: "secret/x",
      payload: new Uint8Array(1),
      qos: 0,
      retain: false,
      dup: false,
    });
    await denied.settle(20);

    await sleep(1100);
    await MemoryClient.connect(broker, {
      clientId: "late",
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await sleep(20);

    const s = broker.metrics.registry.collect();
    const dropped = (reason: string) => s.value("midge_messages_dropped_total", { reason });
    assert.equal(dropped("queue_full"), 2);
    assert.equal(dropped("expired"), 1);
    assert.equal(dropped("too_large"), 1);
    assert.equal(dropped("not_authorized"), 1);
    assert.equal(dropped("slow_reader"), 0);
    // Mosquitto's $SYS dropped count is queue full + slow readers only.
    assert.equal(broker.stats.messagesDropped, 2);
    assert.equal(s.value("midge_queued_messages"), 3);
    assert.equal(
      s.value("midge_messages_received_total", { listener: "acl-test", qos: "0" }),
      1,
    );
  }, { maxQueuedMessages: 3, messageSizeLimit: 16 });
});

Deno.test("/metrics counts 1,800 publishes from 3 MQTT.js clients over TCP exactly", async () => {
  const broker = new Broker({ connectionMessages: false });
  const clients: MqttClient[] = [];
  try {
    const [tcp] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
    const [ws] = await broker.listen({
      port: 0,
      hostname: "127.0.0.1",
      protocol: "websockets",
      settings: { metrics: true },
    });
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    const connect = (clientId: string) =>
      withTimeout(
        mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 }),
        DEFAULT_TIMEOUT_MS,
        `MQTT.js ${clientId} connecting`,
      );
    const subscribers = [await connect("sub-a"), await connect("sub-b")];
    clients.push(...subscribers);
    const counts = new Map<MqttClient, number>();
    for (const sub of subscribers) {
      counts.set(sub, 0);
      sub.on("message", () => counts.set(sub, counts.get(sub)! + 1));
      await sub.subscribeAsync("load/#", { qos: 1 });
    }
    const publishers = await Promise.all(["p1", "p2", "p3"].map(connect));
    clients.push(...publishers);
    const perPublisher = { qos0: 400, qos1: 200 };
    await Promise.all(publishers.map(async (pub, n) => {
      for (let i = 0; i < perPublisher.qos0; i++) pub.publish(`load/${n}`, `a${i}`, { qos: 0 });
      for (let i = 0; i < perPublisher.qos1; i++) {
        await pub.publishAsync(`load/${n}`, `b${i}`, { qos: 1 });
      }
    }));
    const total = 3 * (perPublisher.qos0 + perPublisher.qos1);
    await waitUntil(
      () => subscribers.every((sub) => counts.get(sub) === total),
      `both subscribers receiving ${total} messages`,
    );

    const samples = await scrape(ws!.port);
    const tcpLabel = `mqtt:${tcp!.port}`;
    assert.equal(sumOf(samples, "midge_messages_received_total", { qos: "0" }), 1200);
    assert.equal(sumOf(samples, "midge_messages_received_total", { qos: "1" }), 600);
    assert.equal(
      sumOf(samples, "midge_messages_received_total", { listener: tcpLabel }),
      total,
    );
    assert.equal(sumOf(samples, "midge_messages_sent_total", { qos: "0" }), 2400);
    assert.equal(sumOf(samples, "midge_messages_sent_total", { qos: "1" }), 1200);
    assert.equal(sumOf(samples, "midge_clients_connected"), 5);
    assert.equal(sumOf(samples, "midge_connections_total", { listener: tcpLabel }), 5);
    assert.equal(sumOf(samples, "midge_messages_dropped_total"), 0);
  } finally {
    await Promise.all(clients.map((client) => client.endAsync()));
    await broker.close();
  }
});

Deno.test("Store commits are timed into midge_store_commit_duration_seconds when persistence is on", async () => {
  const without = new Broker();
  try {
    assert.deepEqual(
      without.metrics.registry.collect().families.map((f) => f.family.name).filter((n) =>
        n.startsWith("midge_store_")
      ),
      [],
    );
  } finally {
    await without.close();
  }
  await withBroker(async (broker) => {
    const { client } = await MemoryClient.connect(broker, { clientId: "keeper", clean: false });
    // A persistent session's subscription is committed before its SUBACK goes out.
    await subscribe(client, "kept/#", 1);
    const histogram = broker.metrics.registry.collect().families.find((f) =>
      f.family.name === "midge_store_commit_duration_seconds"
    );
    assert.ok(histogram && "histograms" in histogram);
    assert.ok((histogram.histograms[0]?.count ?? 0) >= 1);
  }, { store: new MemoryStore() });
});

Deno.test("midge_bridge_connected and midge_bridge_queued_messages follow a bridge", async () => {
  const hub = new Broker({ connectionMessages: false });
  const pi = new Broker({ connectionMessages: false });
  try {
    const [hubListener] = await hub.listen({ port: 0, hostname: "127.0.0.1" });
    await pi.applyConfig(parseConfig(
      [
        `listener ${freePort()} 127.0.0.1`,
        "allow_anonymous true",
        "connection hub",
        `address 127.0.0.1:${hubListener!.port}`,
        "restart_timeout 1",
        "topic sensor/# out 1",
        "",
      ].join("\n"),
      { file: "pi.conf" },
    ));
    const bridge = (name: string) =>
      pi.metrics.registry.collect().value(name, { connection: "hub" });
    await waitUntil(() => bridge("midge_bridge_connected") === 1, "bridge hub up");
    assert.equal(bridge("midge_bridge_queued_messages"), 0);
    await hub.close();
    await waitUntil(() => bridge("midge_bridge_connected") === 0, "bridge hub down");
    // QoS 1 while the hub is away waits in the bridge's queue.
    const { client } = await MemoryClient.connect(pi, { clientId: "sensor" });
    for (let i = 1; i <= 3; i++) await publish(client, "sensor/t", `${i}`, { qos: 1, packetId: i });
    assert.equal(bridge("midge_bridge_queued_messages"), 3);
  } finally {
    await pi.close();
    await hub.close();
  }
});
