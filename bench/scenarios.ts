/**
 * The benchmark scenarios. Each runs against one freshly started broker and returns its metrics
 * for one round; the harness interleaves brokers and rounds.
 *
 * Throughput scenarios warm up first (so JIT compilers reach steady state), then measure message
 * counts and the CPU time of broker and generator over a fixed window. Publishers are bounded by
 * a {@linkcode Flow}: messages published but not yet delivered never exceed a fixed window.
 *
 * @module
 */

import { encodePacket } from "../codec/mod.ts";
import type { QoS } from "../codec/mod.ts";
import type { RunningBroker } from "./brokers.ts";
import { cpuPercent, readCpuSeconds, readMemory, sample } from "./proc.ts";
import { percentile } from "./stats.ts";
import {
  closeQuietly,
  encodeConnect,
  Flow,
  FrameScanner,
  openClient,
  PUBACK,
  PUBLISH,
  READ_SIZE,
  readLoop,
  Signal,
  writeAll,
} from "./wire.ts";

/** Scenario names, in run order. */
export const SCENARIO_NAMES = [
  "fanin-qos0",
  "fanin-qos1",
  "fanout",
  "latency",
  "connections",
  "footprint",
] as const;

/** One of {@linkcode SCENARIO_NAMES}. */
export type ScenarioName = typeof SCENARIO_NAMES[number];

/** Settings shared by all scenarios. */
export interface ScenarioSettings {
  /** Measured window per scenario and round, ms. */
  durationMs: number;
  /** Untimed warm-up before the window, ms. */
  warmupMs: number;
  /** Idle clients opened by `connections`. */
  connections: number;
  /** Messages per second sent by `latency`. */
  latencyRate: number;
  /** Payload size of every PUBLISH, bytes. */
  payloadSize: number;
}

/** Defaults: short enough for a whole run (6 scenarios × 3 brokers × 3 rounds) under 10 min. */
export const DEFAULT_SETTINGS: ScenarioSettings = {
  durationMs: 3000,
  warmupMs: 1000,
  connections: 5000,
  latencyRate: 10_000,
  payloadSize: 64,
};

/** Metrics (reported, compared) and info (context: CPU use, losses) of one scenario run. */
export interface ScenarioResult {
  metrics: Record<string, number>;
  info: Record<string, number>;
}

/** Publishers of the fan-in scenarios. */
const FAN_IN_PUBLISHERS = 8;
/** In-flight window per publisher in fan-in QoS 1 (PUBACKs outstanding). */
const QOS1_WINDOW = 64;

/** Subscribers of the fan-out scenario. */
const FAN_OUT_SUBSCRIBERS = 100;
/** Messages per write in the QoS 0 throughput scenarios. */
const BATCH = 64;
/**
 * Messages published but not yet delivered to every subscriber in fan-out: enough that the broker
 * never idles waiting for the publisher, few enough (about 38 KB per subscriber) that queues stay
 * within socket buffers.
 */
const FAN_OUT_WINDOW = 512;
/** Concurrent CONNECTs while opening the idle clients. */
const CONNECT_CONCURRENCY = 32;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A PUBLISH with `size` payload bytes, encoded once by the project codec. */
function encodeMessage(topic: string, size: number, qos: QoS = 0, packetId?: number): Uint8Array {
  return encodePacket({
    type: "publish",
    topic,
    payload: new Uint8Array(size).fill(0x61),
    qos,
    retain: false,
    dup: false,
    packetId,
  }, 4);
}

/** `count` copies of `packet` back to back: one write sends a batch. */
function repeat(packet: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(packet.length * count);
  for (let i = 0; i < count; i++) out.set(packet, i * packet.length);
  return out;
}

/** Opens `count` clients, `concurrency` handshakes at a time; returns them in index order. */
async function openMany(
  count: number,
  concurrency: number,
  open: (index: number) => Promise<Deno.TcpConn>,
): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      conns[index] = await open(index);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } catch (error) {
    for (const conn of conns) if (conn !== undefined) closeQuietly(conn);
    throw error;
  }
  return conns;
}

/**
 * Runs the warm-up, then the measured window; `counters()` is read at both ends. Returns per-second
 * rates of every counter and the CPU use of broker and generator over the window.
 */
async function measure(
  broker: RunningBroker,
  settings: ScenarioSettings,
  counters: () => Record<string, number>,
): Promise<{ rates: Record<string, number>; info: Record<string, number> }> {
  await sleep(settings.warmupMs);
  const from = sample(broker.pid);
  const start = counters();
  await sleep(settings.durationMs);
  const to = sample(broker.pid);
  const end = counters();
  const seconds = (to.timeMs - from.timeMs) / 1000;
  const rates: Record<string, number> = {};
  for (const [key, value] of Object.entries(end)) rates[key] = (value - start[key]!) / seconds;
  const cpu = cpuPercent(from, to);
  return {
    rates,
    info: {
      brokerCpuPercent: cpu.broker,
      generatorCpuPercent: cpu.generator,
      otherCpuPercent: cpu.other,
      brokerPeakRssKiB: readMemory(broker.pid).peakRssKiB,
      seconds,
    },
  };
}

/** A broker must not deliver more than was published: a check that the counting is sound. */
function checkDeliveries(flow: Flow): void {
  if (flow.delivered > flow.expected) {
    throw new Error(
      `Cannot trust this run: ${flow.delivered} deliveries counted for ${flow.expected} expected`,
    );
  }
}

/**
 * Fan-in: 8 publishers on `bench/0` … `bench/7`, one subscriber on `bench/#`, 64-byte payloads.
 * QoS 0 counts deliveries; QoS 1 keeps 64 PUBLISHes in flight per publisher and counts PUBACKs,
 * while the subscriber (at QoS 1) acknowledges every delivery.
 */
export async function runFanIn(
  broker: RunningBroker,
  settings: ScenarioSettings,
  qos: 0 | 1,
): Promise<ScenarioResult> {
  const port = broker.port;
  const tag = `fanin${qos}`;
  const conns: Deno.TcpConn[] = [];
  let running = true;
  const isRunning = () => running;
  // QoS 1: at most 64 × 8 are unacknowledged; the global bound also caps the queue behind them.
  const flow = new Flow(
    qos === 0 ? 4 * BATCH * FAN_IN_PUBLISHERS : 2 * QOS1_WINDOW * FAN_IN_PUBLISHERS,
  );
  const loops: Promise<void>[] = [];
  const watchdog = setInterval(() => flow.check(), 500);
  try {
    const subscriber = await openClient(port, {
      clientId: `${tag}-sub`,
      subscribe: { topicFilter: "bench/#", qos },
    });
    conns.push(subscriber);
    const publishers = await openMany(
      FAN_IN_PUBLISHERS,
      FAN_IN_PUBLISHERS,
      (i) => openClient(port, { clientId: `${tag}-pub${i}` }),
    );
    conns.push(...publishers);

    // Subscriber: count PUBLISHes; at QoS 1 answer each with a PUBACK (template from the codec).
    const pubackTemplate = encodePacket({ type: "puback", packetId: 1 }, 4);
    let ackIds: number[] = [];
    let ackChain = Promise.resolve();
    const subScanner = new FrameScanner(
      qos === 0 ? undefined : (header, bytes, start) => {
        if (header >> 4 !== PUBLISH || (header & 0b0110) === 0) return;
        const at = start + 2 + ((bytes[start]! << 8) | bytes[start + 1]!);
        ackIds.push((bytes[at]! << 8) | bytes[at + 1]!);
      },
    );
    let seen = 0;
    loops.push(readLoop(subscriber, subScanner, () => {
      const delivered = subScanner.counts[PUBLISH]!;
      flow.deliver(delivered - seen);
      seen = delivered;
      if (ackIds.length > 0) {
        const acks = new Uint8Array(ackIds.length * 4);
        for (let i = 0; i < ackIds.length; i++) {
          acks.set(pubackTemplate, i * 4);
          acks[i * 4 + 2] = ackIds[i]! >> 8;
          acks[i * 4 + 3] = ackIds[i]! & 0xff;
        }
        ackIds = [];
        ackChain = ackChain.then(() => writeAll(subscriber, acks)).catch(() => {});
      }
    }, isRunning));

    const ackScanners: FrameScanner[] = [];
    publishers.forEach((conn, i) => {
      const topic = `bench/${i}`;
      if (qos === 0) {
        const batch = repeat(encodeMessage(topic, settings.payloadSize), BATCH);
        loops.push((async () => {
          try {
            while (running) {
              await flow.reserve(BATCH, isRunning);
              if (!running) break;
              await writeAll(conn, batch);
            }
          } catch {
            // Closed at the end of the run.
          }
        })());
        return;
      }
      // QoS 1: a ring of 1024 packet ids, plus a 64-packet tail so any window is contiguous.
      const RING = 1024;
      const size = encodeMessage(topic, settings.payloadSize, 1, 1).length;
      const ring = new Uint8Array(size * (RING + QOS1_WINDOW));
      for (let k = 0; k < RING + QOS1_WINDOW; k++) {
        ring.set(encodeMessage(topic, settings.payloadSize, 1, (k % RING) + 1), k * size);
      }
      const acked = new Signal();
      const scanner = new FrameScanner();
      ackScanners.push(scanner);
      loops.push(readLoop(conn, scanner, () => acked.notify(), isRunning));
      loops.push((async () => {
        let sent = 0;
        try {
          while (running) {
            const free = QOS1_WINDOW - (sent - scanner.counts[PUBACK]!);
            if (free <= 0) {
              await acked.wait();
              continue;
            }
            await flow.reserve(free, isRunning);
            if (!running) break;
            const offset = (sent % RING) * size;
            // Counted before the write: a PUBACK may be read before the write's promise settles.
            sent += free;
            await writeAll(conn, ring.subarray(offset, offset + free * size));
          }
        } catch {
          // Closed at the end of the run.
        }
      })());
      // Wake the sender when the run ends while it waits for PUBACKs.
      loops.push((async () => {
        while (running) await sleep(100);
        acked.notify();
      })());
    });

    const { rates, info } = await measure(broker, settings, () => ({
      delivered: subScanner.counts[PUBLISH]!,
      acked: ackScanners.reduce((sum, s) => sum + s.counts[PUBACK]!, 0),
    }));
    checkDeliveries(flow);
    return {
      metrics: { msgPerSec: qos === 0 ? rates.delivered! : rates.acked! },
      info: {
        ...info,
        deliveredPerSec: rates.delivered!,
        lost: flow.lost,
        stalls: flow.stalls,
      },
    };
  } finally {
    running = false;
    clearInterval(watchdog);
    flow.wakeAll();
    for (const conn of conns) closeQuietly(conn);
    await Promise.all(loops);
  }
}

/** Fan-out: one publisher, 100 subscribers on one topic, QoS 0; counts deliveries. */
export async function runFanOut(
  broker: RunningBroker,
  settings: ScenarioSettings,
): Promise<ScenarioResult> {
  const port = broker.port;
  const topic = "bench/fanout";
  const conns: Deno.TcpConn[] = [];
  let running = true;
  const isRunning = () => running;
  const batchSize = BATCH / 2;
  const flow = new Flow(FAN_OUT_WINDOW * FAN_OUT_SUBSCRIBERS);
  const loops: Promise<void>[] = [];
  const watchdog = setInterval(() => flow.check(), 500);
  try {
    const subscribers = await openMany(
      FAN_OUT_SUBSCRIBERS,
      CONNECT_CONCURRENCY,
      (i) =>
        openClient(port, { clientId: `fanout-sub${i}`, subscribe: { topicFilter: topic, qos: 0 } }),
    );
    conns.push(...subscribers);
    const publisher = await openClient(port, { clientId: "fanout-pub" });
    conns.push(publisher);

    const scanners = subscribers.map((conn) => {
      const scanner = new FrameScanner();
      let seen = 0;
      loops.push(readLoop(conn, scanner, () => {
        const delivered = scanner.counts[PUBLISH]!;
        flow.deliver(delivered - seen);
        seen = delivered;
      }, isRunning));
      return scanner;
    });
    const batch = repeat(encodeMessage(topic, settings.payloadSize), batchSize);
    loops.push((async () => {
      try {
        while (running) {
          await flow.reserve(batchSize * FAN_OUT_SUBSCRIBERS, isRunning);
          if (!running) break;
          await writeAll(publisher, batch);
        }
      } catch {
        // Closed at the end of the run.
      }
    })());

    const { rates, info } = await measure(broker, settings, () => ({
      delivered: scanners.reduce((sum, s) => sum + s.counts[PUBLISH]!, 0),
    }));
    checkDeliveries(flow);
    return {
      metrics: { deliveriesPerSec: rates.delivered! },
      info: { ...info, lost: flow.lost, stalls: flow.stalls },
    };
  } finally {
    running = false;
    clearInterval(watchdog);
    flow.wakeAll();
    for (const conn of conns) closeQuietly(conn);
    await Promise.all(loops);
  }
}

/**
 * Latency: one publisher sends `latencyRate` msg/s, evenly paced by a worker, each PUBLISH
 * carrying the send time (`performance.now()`, float64) at the start of its payload; one
 * subscriber stamps each arrival once per read. Reports p50, p99 and max in µs over the window.
 */
export async function runLatency(
  broker: RunningBroker,
  settings: ScenarioSettings,
): Promise<ScenarioResult> {
  const port = broker.port;
  const topic = "bench/latency";
  const conns: Deno.TcpConn[] = [];
  let running = true;
  const ticks = new Int32Array(new SharedArrayBuffer(8));
  let worker: Worker | undefined;
  const loops: Promise<void>[] = [];
  try {
    const subscriber = await openClient(port, {
      clientId: "latency-sub",
      subscribe: { topicFilter: topic, qos: 0 },
    });
    conns.push(subscriber);
    const publisher = await openClient(port, { clientId: "latency-pub" });
    conns.push(publisher);

    const packet = encodeMessage(topic, settings.payloadSize);
    const stampOffset = packet.length - settings.payloadSize;
    const MAX_CATCH_UP = 64;
    const batch = repeat(packet, MAX_CATCH_UP);
    // Separate scratch for sender and receiver: each copies the 8 stamp bytes synchronously.
    const sendStamp = new Float64Array(1);
    const sendStampBytes = new Uint8Array(sendStamp.buffer);
    const receiveStamp = new Float64Array(1);
    const receiveStampBytes = new Uint8Array(receiveStamp.buffer);

    const expectedSamples = Math.ceil((settings.latencyRate * settings.durationMs) / 1000);
    const samples = new Float64Array(expectedSamples * 2 + 1024);
    let count = 0;
    let received = 0;
    let sent = 0;
    let measuring = false;
    let arrival = 0;
    const scanner = new FrameScanner((header, bytes, start) => {
      if (header >> 4 !== PUBLISH) return;
      received++;
      if (!measuring || count === samples.length) return;
      const at = start + 2 + ((bytes[start]! << 8) | bytes[start + 1]!);
      for (let i = 0; i < 8; i++) receiveStampBytes[i] = bytes[at + i]!;
      samples[count++] = arrival - receiveStamp[0]!;
    });
    loops.push((async () => {
      const buffer = new Uint8Array(READ_SIZE);
      try {
        while (running) {
          const n = await subscriber.read(buffer);
          if (n === null) return;
          arrival = performance.now();
          scanner.push(buffer, 0, n);
        }
      } catch {
        // Closed at the end of the run.
      }
    })());

    worker = new Worker(new URL("./tick_worker.ts", import.meta.url), { type: "module" });
    worker.postMessage({ ticks: ticks.buffer, intervalUs: 1e6 / settings.latencyRate });
    loops.push((async () => {
      let seenTicks = 0;
      try {
        while (running) {
          const wait = Atomics.waitAsync(ticks, 0, seenTicks);
          if (wait.async) await wait.value;
          const now = Atomics.load(ticks, 0);
          const n = Math.min(now - seenTicks, MAX_CATCH_UP);
          seenTicks = now;
          if (n <= 0 || !running) continue;
          sendStamp[0] = performance.now();
          for (let k = 0; k < n; k++) batch.set(sendStampBytes, k * packet.length + stampOffset);
          await writeAll(
            publisher,
            n === MAX_CATCH_UP ? batch : batch.subarray(0, n * packet.length),
          );
          sent += n;
        }
      } catch {
        // Closed at the end of the run.
      }
    })());

    await sleep(settings.warmupMs);
    const from = sample(broker.pid);
    const sentBefore = sent;
    measuring = true;
    await sleep(settings.durationMs);
    measuring = false;
    const to = sample(broker.pid);
    const sentInWindow = sent - sentBefore;
    const cpu = cpuPercent(from, to);
    const sorted = samples.subarray(0, count).sort();
    const us = (ms: number) => ms * 1000;
    return {
      metrics: {
        p50Us: us(percentile(sorted, 50)),
        p99Us: us(percentile(sorted, 99)),
        maxUs: us(percentile(sorted, 100)),
      },
      info: {
        brokerCpuPercent: cpu.broker,
        generatorCpuPercent: cpu.generator,
        otherCpuPercent: cpu.other,
        sentPerSec: sentInWindow / ((to.timeMs - from.timeMs) / 1000),
        samples: count,
        undeliveredAtEnd: Math.max(0, sent - received),
      },
    };
  } finally {
    running = false;
    // Stops the worker and wakes the sender's pending waitAsync.
    Atomics.store(ticks, 1, 1);
    Atomics.add(ticks, 0, 1);
    Atomics.notify(ticks, 0);
    worker?.terminate();
    for (const conn of conns) closeQuietly(conn);
    await Promise.all(loops);
  }
}

/**
 * Footprint and connections on a freshly started broker: time from spawn to first CONNACK, RSS
 * after a second idle, then broker CPU µs and RSS KiB per idle client for `connections` clients
 * (keepalive 60) opened and left quiet for a second. `withConnections: false` measures the
 * footprint only.
 */
export async function runIdle(
  broker: RunningBroker,
  settings: ScenarioSettings,
  withConnections: boolean,
): Promise<ScenarioResult> {
  await sleep(1000);
  const idle = readMemory(broker.pid);
  const metrics: Record<string, number> = {
    idleRssMB: (idle.rssKiB * 1024) / 1e6,
    startupMs: broker.startupMs,
  };
  const info: Record<string, number> = {};
  if (!withConnections) return { metrics, info };

  const count = settings.connections;
  const connects = Array.from({ length: count }, (_, i) => encodeConnect(`idle-${i}`, 60));
  const cpuBefore = readCpuSeconds(broker.pid);
  const generatorBefore = readCpuSeconds("self");
  const rssBefore = readMemory(broker.pid).rssKiB;
  const openedAt = performance.now();
  const conns = await openMany(
    count,
    CONNECT_CONCURRENCY,
    (i) => openClient(broker.port, { clientId: `idle-${i}`, connect: connects[i] }),
  );
  try {
    const openSeconds = (performance.now() - openedAt) / 1000;
    await sleep(1000);
    const cpuAfter = readCpuSeconds(broker.pid);
    const memory = readMemory(broker.pid);
    metrics.cpuUsPerConn = ((cpuAfter - cpuBefore) * 1e6) / count;
    metrics.rssKiBPerConn = (memory.rssKiB - rssBefore) / count;
    info.connectsPerSec = count / openSeconds;
    info.generatorCpuSeconds = readCpuSeconds("self") - generatorBefore;
    info.brokerRssKiB = memory.rssKiB;
  } finally {
    for (const conn of conns) closeQuietly(conn);
  }
  return { metrics, info };
}
