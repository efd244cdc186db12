/**
 * Crash tests with a real broker process: a publisher sends 20,000 messages to a topic with an
 * offline persistent subscriber, the broker is killed with SIGKILL at a random moment, restarted
 * on the same persistence file, and then:
 *
 * - QoS 1: the subscriber receives every message whose PUBACK the publisher had seen, in order.
 * - QoS 2: the publisher reconnects and completes what it had in flight (PUBLISH with DUP for
 *   what had no PUBREC, PUBREL for what had); the subscriber then receives every message sent,
 *   each exactly once, in order — checked on the payloads, as an application would.
 * - A retained message and the subscription itself survive.
 *
 * The kill points come from a seeded generator; the seed is printed, and
 * `MIDGE_CRASH_SEED=<seed>` replays a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MqttClient } from "../../client/client.ts";
import type { ProtocolVersion } from "../../codec/types.ts";
import { waitUntil } from "../_helpers/process.ts";
import { startMidge } from "./_broker_process.ts";
import { Pipe, WindowPublisher } from "./_pipe.ts";

const COUNT = 20_000;
const SEED = Number(Deno.env.get("MIDGE_CRASH_SEED") ?? Date.now() % 0x7fffffff);
console.log(`crash_test seed ${SEED} (replay with MIDGE_CRASH_SEED=${SEED})`);

/** mulberry32: a small seeded generator, so that a failing kill point can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const next = random(SEED);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** CONNECT fields of a session that outlives its connection. */
function persistent(version: ProtocolVersion) {
  return version === 5
    ? { protocolVersion: version, clean: false, properties: { sessionExpiryInterval: 3600 } }
    : { protocolVersion: version, clean: false };
}

/** Runs one kill-and-restart cycle; returns what the subscriber received, by index. */
async function crashRun(qos: 1 | 2, version: ProtocolVersion, killAt: number): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "midge-crash-" });
  try {
    const label = `QoS ${qos}, v${version}, kill after ${killAt} acknowledgements`;
    let broker = await startMidge({ dir });

    // The subscriber subscribes, then goes offline: everything is queued for it.
    const sub = new MqttClient({ port: broker.port, clientId: "sub", ...persistent(version) });
    await sub.connect();
    await sub.subscribe([{ topicFilter: "crash/#", qos }]);
    await sub.disconnect();
    const keeper = new MqttClient({ port: broker.port, clientId: "keeper" });
    await keeper.connect();
    await keeper.publish("keep/state", "retained before the crash", { qos: 1, retain: true });
    await keeper.disconnect();

    const publisher = new WindowPublisher({
      topic: "crash/data",
      qos,
      count: COUNT,
      window: qos === 1 ? 64 : 16,
      payload: (index) => encoder.encode(String(index)),
    });
    publisher.onAck((acked) => {
      if (acked === killAt) broker.child.kill("SIGKILL");
    });
    const { pipe } = await Pipe.connect(broker.port, { clientId: "pub", ...persistent(version) });
    await publisher.run(pipe);
    await broker.kill();
    assert.ok(publisher.acked < COUNT, `${label}: the broker died before the end`);

    broker = await startMidge({ dir });
    await using _restarted = broker;
    const restoredLine = broker.log.find((line) => / Restored /.test(line)) ?? "";
    assert.match(restoredLine, /Restored [\d,]+ sessions, 1 retained, [\d,]+ queued\.$/, label);

    if (qos === 2) {
      const { pipe: again, connack } = await Pipe.connect(broker.port, {
        clientId: "pub",
        ...persistent(version),
      });
      assert.equal(connack.sessionPresent, true, `${label}: the publisher's session survived`);
      await publisher.resume(again);
      again.close();
    }

    const received: string[] = [];
    const back = new MqttClient({ port: broker.port, clientId: "sub", ...persistent(version) });
    back.onMessage((message) => received.push(decoder.decode(message.payload)));
    const connack = await back.connect();
    assert.equal(connack.sessionPresent, true, `${label}: the subscriber's session survived`);
    // Published after the restart, the end marker is queued behind everything restored, and it
    // arrives only through the subscription the broker restored.
    const marker = new MqttClient({ port: broker.port, clientId: "marker" });
    await marker.connect();
    await marker.publish("crash/data", "end", { qos: 1 });
    await marker.disconnect();
    await waitUntil(() => received.at(-1) === "end", `${label}: the end marker`, 60_000);
    await back.disconnect();

    const indices = received.slice(0, -1).map(Number);
    console.log(
      `${label}: ${publisher.acked} acknowledged before the kill, ${indices.length} delivered ` +
        `after the restart (${restoredLine.replace(/^.*Restored/, "restored")})`,
    );
    if (qos === 1) {
      // At least once, in order: every acknowledged message, none out of order.
      for (let i = 1; i < indices.length; i++) {
        assert.ok(
          indices[i]! >= indices[i - 1]!,
          `${label}: ${indices[i]} after ${indices[i - 1]}`,
        );
      }
      const got = new Set(indices);
      const missing = publisher.states.flatMap((state, index) =>
        state === "acked" && !got.has(index) ? [index] : []
      );
      assert.deepStrictEqual(missing.slice(0, 10), [], `${label}: acknowledged but lost`);
    } else {
      // Exactly once, in order: every message the publisher sent (all of them were completed
      // after the restart), each once.
      const sent = publisher.states.filter((state) => state !== "unsent").length;
      assert.ok(
        publisher.states.every((state) => state === "unsent" || state === "completed"),
        `${label}: the publisher completed every flow`,
      );
      assert.equal(indices.length, sent, `${label}: count (duplicates or losses)`);
      assert.deepStrictEqual(indices, Array.from({ length: sent }, (_, i) => i), label);
    }

    const fresh = new MqttClient({ port: broker.port, clientId: "fresh" });
    const retained: string[] = [];
    fresh.onMessage((message) => retained.push(decoder.decode(message.payload)));
    await fresh.connect();
    await fresh.subscribe([{ topicFilter: "keep/#", qos: 1 }]);
    await waitUntil(() => retained.length > 0, `${label}: the retained message`);
    assert.deepStrictEqual(retained, ["retained before the crash"], label);
    await fresh.disconnect();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A kill point anywhere in the run, away from the very ends. */
function killPoint(): number {
  return 1 + Math.floor(next() * (COUNT - 2));
}

Deno.test("Broker killed with SIGKILL loses no acknowledged QoS 1 message (3 kill points)", async () => {
  await crashRun(1, 4, killPoint());
  await crashRun(1, 4, killPoint());
  await crashRun(1, 5, killPoint());
});

Deno.test("Broker killed with SIGKILL keeps QoS 2 exactly once across the restart (2 kill points)", async () => {
  await crashRun(2, 5, killPoint());
  await crashRun(2, 4, killPoint());
});
