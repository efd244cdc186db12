/**
 * Measures what persistence costs (issue 8): QoS 1 fan-in throughput with `persistence` off and
 * on, and the size of the database holding 100,000 queued 64-byte messages.
 *
 * Fan-in: 8 publishers on `bench/0..7`, each keeping 64 QoS 1 PUBLISHes in flight, and one
 * subscriber on `bench/#` at QoS 1 that acknowledges every delivery. Measured twice: with a clean
 * subscriber, as `bench/scenarios.ts` runs it (nothing of a QoS 1 flow to a clean session needs
 * saving), and with a persistent subscriber (clean session false), where every delivery is
 * written before the publisher's PUBACK and removed after the subscriber's: the expensive case.
 * As in `bench/scenarios.ts`,
 * messages published but not yet delivered never exceed 2 × 64 × 8, so queues stay bounded and
 * what is measured is the steady state. Throughput is PUBACKs received by the publishers per
 * second over the window, after a warm-up.
 *
 * ```sh
 * deno run -A tests/store/measure_persistence.ts [seconds=5] [rounds=2]
 * ```
 *
 * Not a test: it asserts nothing and prints numbers.
 *
 * @module
 */

import type { Packet } from "../../codec/types.ts";
import { startMidge } from "./_broker_process.ts";
import { Pipe } from "./_pipe.ts";

const SECONDS = Number(Deno.args[0] ?? 5);
const ROUNDS = Number(Deno.args[1] ?? 2);
const PUBLISHERS = 8;
const WINDOW = 64;
const PAYLOAD = new Uint8Array(64).fill(0x61);
/** Published but not yet delivered, at most. */
const FLOW = 2 * WINDOW * PUBLISHERS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One fan-in run; returns PUBACKs per second and deliveries per second. */
async function fanIn(
  persistence: boolean,
  persistentSubscriber: boolean,
): Promise<{ acked: number; delivered: number }> {
  const dir = Deno.makeTempDirSync({ prefix: "midge-measure-" });
  const broker = await startMidge({ dir, persistence });
  const pipes: Pipe[] = [];
  try {
    const { pipe: sub } = await Pipe.connect(broker.port, {
      clientId: "sink",
      clean: !persistentSubscriber,
    });
    pipes.push(sub);
    let delivered = 0;
    let sent = 0;
    /** Senders waiting for the flow to drain. */
    const blocked: (() => void)[] = [];
    const subscribed = new Promise<void>((resolve) => {
      sub.onPacket((packet: Packet) => {
        if (packet.type === "suback") resolve();
        if (packet.type !== "publish") return;
        delivered++;
        sub.send({ type: "puback", packetId: packet.packetId! });
        while (blocked.length > 0 && sent - delivered < FLOW) blocked.shift()!();
      });
    });
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        topicFilter: "bench/#",
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    await subscribed;

    let acked = 0;
    let running = true;
    for (let i = 0; i < PUBLISHERS; i++) {
      const { pipe } = await Pipe.connect(broker.port, { clientId: `pub${i}` });
      pipes.push(pipe);
      let nextId = 1;
      const send = () => {
        if (!running) return;
        if (sent - delivered >= FLOW) {
          blocked.push(send);
          return;
        }
        sent++;
        pipe.send({
          type: "publish",
          topic: `bench/${i}`,
          payload: PAYLOAD,
          qos: 1,
          retain: false,
          dup: false,
          packetId: nextId,
        });
        nextId = nextId === 65535 ? 1 : nextId + 1;
      };
      pipe.onPacket((packet) => {
        if (packet.type !== "puback") return;
        acked++;
        send();
      });
      for (let k = 0; k < WINDOW; k++) send();
    }
    await sleep(1000); // warm-up
    const start = { acked, delivered, at: performance.now() };
    await sleep(SECONDS * 1000);
    const seconds = (performance.now() - start.at) / 1000;
    const result = {
      acked: (acked - start.acked) / seconds,
      delivered: (delivered - start.delivered) / seconds,
    };
    running = false;
    return result;
  } finally {
    for (const pipe of pipes) pipe.close();
    await broker[Symbol.asyncDispose]();
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Queues 100,000 64-byte QoS 1 messages for an offline subscriber; returns the file sizes. */
async function queuedSize(): Promise<{ running: number; wal: number; closed: number }> {
  const dir = Deno.makeTempDirSync({ prefix: "midge-measure-" });
  try {
    const broker = await startMidge({ dir });
    const { pipe: sub } = await Pipe.connect(broker.port, { clientId: "offline", clean: false });
    const subscribed = new Promise<void>((resolve) => sub.onPacket(() => resolve()));
    sub.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        topicFilter: "queue/#",
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    });
    await subscribed;
    sub.send({ type: "disconnect" });
    await sub.closed;
    const { pipe } = await Pipe.connect(broker.port, { clientId: "filler" });
    const total = 100_000;
    let sent = 0;
    let acked = 0;
    const done = new Promise<void>((resolve) => {
      const send = () => {
        if (sent >= total) return;
        sent++;
        pipe.send({
          type: "publish",
          topic: "queue/data",
          payload: PAYLOAD,
          qos: 1,
          retain: false,
          dup: false,
          packetId: (sent % 65535) + 1,
        });
      };
      pipe.onPacket((packet) => {
        if (packet.type !== "puback") return;
        if (++acked === total) resolve();
        send();
      });
      for (let k = 0; k < WINDOW; k++) send();
    });
    await done;
    pipe.close();
    const size = (path: string) => {
      try {
        return Deno.statSync(path).size;
      } catch {
        return 0;
      }
    };
    const running = size(`${dir}/midge.db`);
    const wal = size(`${dir}/midge.db-wal`);
    await broker[Symbol.asyncDispose](); // SIGTERM: a clean shutdown checkpoints the WAL
    return { running, wal, closed: size(`${dir}/midge.db`) };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const load = new TextDecoder().decode(
  new Deno.Command("uptime").outputSync().stdout,
).trim();
console.log(`uptime: ${load}`);
const mean = (list: { acked: number }[]) => list.reduce((n, r) => n + r.acked, 0) / list.length;
for (const persistentSubscriber of [false, true]) {
  const results: Record<"off" | "on", { acked: number; delivered: number }[]> = { off: [], on: [] };
  const kind = persistentSubscriber ? "persistent subscriber" : "clean subscriber";
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ["off", "on"] as const) {
      const result = await fanIn(mode === "on", persistentSubscriber);
      results[mode].push(result);
      console.log(
        `${kind}, round ${round + 1}, persistence ${mode}: ${Math.round(result.acked)} ` +
          `PUBACK/s, ${Math.round(result.delivered)} delivered/s`,
      );
    }
  }
  const off = mean(results.off);
  const on = mean(results.on);
  console.log(
    `QoS 1 fan-in (${PUBLISHERS} publishers × window ${WINDOW}, ${kind}, ${SECONDS} s × ` +
      `${ROUNDS}): off ${Math.round(off)} msg/s, on ${Math.round(on)} msg/s, on/off ` +
      `${(on / off).toFixed(2)} (cost ${((1 - on / off) * 100).toFixed(0)} %)`,
  );
}
const size = await queuedSize();
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `100,000 queued 64-byte messages: database ${mib(size.running)} + WAL ${mib(size.wal)} ` +
    `while running, ${mib(size.closed)} after a clean shutdown`,
);
