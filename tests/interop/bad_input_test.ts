/**
 * Misbehaving peers over live sockets, while an MQTT.js publisher/subscriber pair keeps
 * exchanging QoS 1 messages through the same broker and must not miss one: random bytes, PUBLISH
 * before CONNECT, a second CONNECT, an absurd remaining length, a CONNECT trickled one byte per
 * second, and a subscriber that stops reading while 20,000 messages are published to it.
 *
 * Raw packets are built and the broker's replies parsed with `npm:mqtt-packet`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { startBroker, type TestBroker } from "../_helpers/broker.ts";
import { delay, waitUntil, withTimeout } from "../_helpers/process.ts";
import { connectPacket, encodeRaw, RawClient, type RawPacket } from "../_helpers/raw_mqtt.ts";

const PAIR_TOPIC = "pair/t";

/**
 * Two MQTT.js v5 clients exchanging numbered QoS 1 messages every few milliseconds in the
 * background. {@linkcode Pair.stop} checks that every number arrived once, in order, and that
 * nothing else (say, a PUBLISH a misbehaving client sent before CONNECT) did.
 */
class Pair implements AsyncDisposable {
  readonly #sub: MqttClient;
  readonly #pub: MqttClient;
  readonly received: string[] = [];
  readonly problems: string[] = [];
  #sent = 0;
  #running = true;
  #loop: Promise<void> = Promise.resolve();
  #ending = false;

  private constructor(sub: MqttClient, pub: MqttClient) {
    this.#sub = sub;
    this.#pub = pub;
    sub.on("message", (_topic, payload) => this.received.push(payload.toString()));
    for (const [name, client] of [["subscriber", sub], ["publisher", pub]] as const) {
      client.on("error", (error) => this.problems.push(`${name} error: ${error.message}`));
      client.on("close", () => {
        if (!this.#ending) this.problems.push(`${name} closed by the broker`);
      });
    }
  }

  static async start(broker: TestBroker): Promise<Pair> {
    const options = { protocolVersion: 5 as const, reconnectPeriod: 0, connectTimeout: 10_000 };
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const sub = await mqtt.connectAsync(url, { ...options, clientId: "pair-sub" });
    const pub = await mqtt.connectAsync(url, { ...options, clientId: "pair-pub" });
    const pair = new Pair(sub, pub);
    await sub.subscribeAsync(PAIR_TOPIC, { qos: 1 });
    pair.#loop = pair.#run();
    return pair;
  }

  /** How many messages the publisher has had acknowledged. */
  get sent(): number {
    return this.#sent;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      await this.#pub.publishAsync(PAIR_TOPIC, String(this.#sent), { qos: 1 });
      this.#sent++;
      await delay(5);
    }
  }

  /** Waits until the subscriber has everything acknowledged so far: the broker is responsive. */
  async roundTrip(what: string): Promise<void> {
    const target = this.#sent + 1;
    await waitUntil(
      () => this.#sent >= target && this.received.length >= target,
      `the pair to exchange a message after ${what} (sent ${this.#sent}, received ${this.received.length})`,
    );
    assert.deepEqual(this.problems, [], `pair problems after ${what}`);
  }

  /** Stops publishing and asserts the subscriber got exactly 0..sent-1 in order. */
  async stop(): Promise<void> {
    this.#running = false;
    await withTimeout(this.#loop, 10_000, "the pair's last publish");
    await waitUntil(
      () => this.received.length >= this.#sent,
      `the pair's subscriber to catch up (${this.received.length}/${this.#sent})`,
    );
    assert.ok(this.#sent > 0, "the pair exchanged messages");
    assert.deepEqual(this.received, Array.from({ length: this.#sent }, (_, i) => String(i)));
    assert.deepEqual(this.problems, []);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#running = false;
    this.#ending = true;
    await this.#loop.catch(() => {});
    await Promise.all([this.#sub.endAsync(true), this.#pub.endAsync(true)]);
  }
}

/** Deterministic random bytes (xorshift32), so that a failure can be replayed. */
function randomBytes(seed: number, length: number): Uint8Array {
  let x = seed || 1;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** `name reasonCode` of a packet, for compact assertions. */
function describe(packet: RawPacket): string {
  const reason = (packet as { reasonCode?: number }).reasonCode;
  const returnCode = (packet as { returnCode?: number }).returnCode;
  const code = reason ?? returnCode;
  return code === undefined ? packet.cmd : `${packet.cmd} 0x${code.toString(16).padStart(2, "0")}`;
}

/** Opens a raw connection, sends CONNECT and asserts a successful CONNACK. */
async function rawConnect(
  port: number,
  clientId: string,
  version: 4 | 5,
  keepalive = 60,
): Promise<RawClient> {
  const client = await RawClient.open(port, version);
  await client.send(connectPacket(clientId, version, { keepalive }));
  const connack = await client.readPacket();
  assert.equal(describe(connack), "connack 0x00", `CONNACK for ${clientId}`);
  return client;
}

/**
 * Messages flooded at the subscriber that stops reading: 20 MiB, well beyond what the kernel's
 * socket buffers absorb on loopback (about 4 MiB send + a small receive window), so the broker
 * has to buffer or drop the rest itself.
 */
const FLOOD_MESSAGES = 20_000;

/** The fixed header of a PUBLISH with the largest remaining length, 268,435,455, and no body. */
const HUGE_HEADER = new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f]);

Deno.test("bad input: misbehaving clients do not disturb a working pair", async (t) => {
  await using broker = await startBroker();
  await using pair = await Pair.start(broker);

  await t.step("random bytes: the broker closes each connection", async () => {
    // Each case runs on its own connection, all at once, so that every case that leaves a
    // connection open is reported, and the wait for them is paid once.
    const cases: Promise<string | undefined>[] = [];
    const expectClose = async (client: RawClient, bytes: Uint8Array, what: string) => {
      try {
        await client.write(bytes);
        await client.waitForClose();
        return undefined;
      } catch (error) {
        return `${what} (${hex(bytes.subarray(0, 8))}...): ${(error as Error).message}`;
      } finally {
        await client.close();
      }
    };
    for (let seed = 1; seed <= 20; seed++) {
      const bytes = randomBytes(seed * 7919, 16 + (seed * 97) % 1024);
      // Whatever the bytes say, the first packet is not CONNECT [MQTT-3.1.0-1].
      if (bytes[0]! >> 4 === 1) bytes[0] = 0x30;
      const client = await RawClient.open(broker.port);
      cases.push(expectClose(client, bytes, `seed ${seed}, ${bytes.length} bytes`));
    }
    for (let seed = 1; seed <= 10; seed++) {
      const bytes = randomBytes(seed * 104729, 16 + (seed * 131) % 1024);
      // Packet type 0 is reserved in every version (3.1.1 and 5.0 section 2.1.2): a complete
      // packet of that type (remaining length in one byte) is malformed and ends the connection.
      bytes[0] = 0x00;
      bytes[1] = Math.min(0x7f, bytes.length - 2);
      const version = seed % 2 ? 4 : 5;
      const client = await rawConnect(broker.port, `garbage-${seed}`, version);
      cases.push(expectClose(client, bytes, `v${version} CONNECT, then seed ${seed}`));
    }
    const failures = (await Promise.all(cases)).filter((failure) => failure !== undefined);
    assert.deepEqual(failures, [], "connections the broker left open");
    await pair.roundTrip("random bytes");
  });

  await t.step("PUBLISH before CONNECT: closed, and the message goes nowhere", async () => {
    for (const version of [4, 5] as const) {
      await using client = await RawClient.open(broker.port, version);
      await client.send({
        cmd: "publish",
        topic: PAIR_TOPIC,
        payload: "intruder",
        qos: 0,
        dup: false,
        retain: false,
      });
      const packets = await client.waitForClose();
      assert.deepEqual(packets.map(describe), [], "no reply to a PUBLISH before CONNECT");
    }
    // stop() at the end also proves "intruder" never reached the subscriber.
    await pair.roundTrip("PUBLISH before CONNECT");
  });

  await t.step("second CONNECT: v5 gets DISCONNECT 0x82 Protocol Error, then close", async () => {
    await using v5 = await rawConnect(broker.port, "twice-v5", 5);
    await v5.send(connectPacket("twice-v5", 5));
    // A second CONNECT is a Protocol Error [MQTT-3.1.0-2]. The spec lets the server send a
    // DISCONNECT with the reason before closing (section 4.13); midge must, so that v5 clients
    // learn why. (Mosquitto 2.0.11 just closes, so it fails here.)
    assert.deepEqual((await v5.waitForClose()).map(describe), ["disconnect 0x82"]);

    await using v4 = await rawConnect(broker.port, "twice-v4", 4);
    await v4.send(connectPacket("twice-v4", 4));
    // MQTT 3.1.1 has no DISCONNECT from the server: the connection is just closed.
    assert.deepEqual((await v4.waitForClose()).map(describe), []);
    await pair.roundTrip("a second CONNECT");
  });

  await t.step("remaining length 268,435,455 without a body before CONNECT: closed", async () => {
    await using client = await RawClient.open(broker.port);
    await client.write(HUGE_HEADER);
    assert.deepEqual((await client.waitForClose()).map(describe), []);
    await pair.roundTrip("a huge header before CONNECT");
  });

  await t.step(
    "remaining length 268,435,455 after a v5 CONNECT: DISCONNECT 0x95 Packet too large",
    async () => {
      // Keepalive 3 s: a broker that waits for the body instead closes after 4.5 s [MQTT-3.1.2-22],
      // so the assertion below fails quickly rather than at the test's timeout.
      await using client = await rawConnect(broker.port, "huge-v5", 5, 3);
      await client.write(HUGE_HEADER);
      // 5 + 268,435,455 bytes exceed any Maximum Packet Size a server can have (at most
      // 268,435,455) [MQTT-3.2.2-15]; the server answers 0x95 rather than buffer 256 MiB.
      // (Mosquitto 2.0.11 without max_packet_size waits for the body, so it fails here.)
      assert.deepEqual((await client.waitForClose()).map(describe), ["disconnect 0x95"]);
      await pair.roundTrip("a huge header after CONNECT");
    },
  );

  await t.step("CONNECT one byte per second, then the rest: served normally", async () => {
    await using client = await RawClient.open(broker.port, 4);
    const connect = encodeRaw(connectPacket("slow-connect", 4), 4);
    for (let i = 0; i < 4; i++) {
      assert.ok(await client.write(connect.subarray(i, i + 1)), `byte ${i} written`);
      await delay(1000);
    }
    await client.write(connect.subarray(4));
    assert.equal(describe(await client.readPacket()), "connack 0x00");
    // And it is a working client: it can subscribe and receive.
    await client.send({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: PAIR_TOPIC, qos: 0 }],
    });
    assert.equal((await client.readPacket()).cmd, "suback");
    const next = await client.readPacket();
    assert.equal(next.cmd, "publish");
    await pair.roundTrip("a trickled CONNECT");
  });

  await t.step(
    "a subscriber that stops reading while 20,000 × 1 KiB are published to it",
    async () => {
      const stuck = await rawConnect(broker.port, "stuck", 4);
      await using _stuck = stuck;
      await stuck.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "flood/#", qos: 0 }],
      });
      assert.equal((await stuck.readPacket()).cmd, "suback");
      // From here on nothing reads `stuck`: the kernel buffers fill and then the broker's.

      await using publisher = await rawConnect(broker.port, "flooder", 4);
      const payload = Buffer.alloc(1024, 0x61);
      // One batch of 100 identical PUBLISH packets, written over and over: the test itself
      // allocates next to nothing while flooding, so RSS growth is the broker's.
      const publish = encodeRaw(
        { cmd: "publish", topic: "flood/x", payload, qos: 0, dup: false, retain: false },
        4,
      );
      const bytes = new Uint8Array(publish.length * 100);
      for (let i = 0; i < 100; i++) bytes.set(publish, i * publish.length);
      const rssBefore = broker.rss();
      for (let batch = 0; batch < FLOOD_MESSAGES / 100; batch++) {
        assert.ok(await publisher.write(bytes), "the broker keeps reading the flooding publisher");
        // Let the pair run between batches: it must keep flowing during the flood.
        await delay(1);
      }
      // PINGRESP comes after the broker has handled every PUBLISH before the PINGREQ.
      await publisher.send({ cmd: "pingreq" });
      assert.equal((await publisher.readPacket()).cmd, "pingresp");
      await pair.roundTrip(`${FLOOD_MESSAGES} messages to a stuck subscriber`);
      const rssAfter = broker.rss();
      const growthMiB = (rssAfter - rssBefore) / (1024 * 1024);
      const dropped = broker.broker?.stats.messagesDropped;
      console.log(
        `stuck subscriber (${broker.kind}): RSS ${(rssBefore / 1048576).toFixed(1)} MiB → ` +
          `${(rssAfter / 1048576).toFixed(1)} MiB (growth ${growthMiB.toFixed(1)} MiB) after ` +
          `${FLOOD_MESSAGES} × 1 KiB QoS 0; messages dropped: ${dropped ?? "n/a"}`,
      );
      // Only a sanity bound: 20,000 × 1 KiB is 20 MiB, so even buffering it all stays below it.
      assert.ok(growthMiB < 200, `RSS grew by ${growthMiB.toFixed(1)} MiB`);
    },
  );

  await t.step("the pair never missed a message", async () => {
    await pair.stop();
  });
});

Deno.test("bad input: a broker with maxPacketSize 1024 advertises it and enforces it", async () => {
  await using broker = await startBroker({ maxPacketSize: 1024 });
  const big = {
    cmd: "publish" as const,
    topic: "big/t",
    payload: Buffer.alloc(2000),
    qos: 0 as const,
    dup: false,
    retain: false,
  };

  await using v5 = await RawClient.open(broker.port, 5);
  await v5.send(connectPacket("max-packet-v5", 5));
  const connack = await v5.readPacket();
  assert.equal(describe(connack), "connack 0x00");
  // The server tells v5 clients its limit [MQTT-3.2.2-15 ff.] ...
  assert.equal(
    (connack as { properties?: { maximumPacketSize?: number } }).properties
      ?.maximumPacketSize,
    1024,
  );
  await v5.send(big);
  // ... and answers a bigger packet with 0x95 Packet too large.
  assert.deepEqual((await v5.waitForClose()).map(describe), ["disconnect 0x95"]);

  await using v4 = await rawConnect(broker.port, "max-packet-v4", 4);
  await v4.send(big);
  assert.deepEqual((await v4.waitForClose()).map(describe), []);

  // A packet within the limit is fine.
  await using ok = await rawConnect(broker.port, "max-packet-ok", 5);
  await ok.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "small/t", qos: 0 }] });
  assert.equal((await ok.readPacket()).cmd, "suback");
  await ok.send({
    cmd: "publish",
    topic: "small/t",
    payload: Buffer.alloc(500),
    qos: 0,
    dup: false,
    retain: false,
  });
  const echoed = await ok.readPacket();
  assert.equal(echoed.cmd, "publish");
});
