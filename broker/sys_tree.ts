/**
 * Mosquitto's `$SYS/broker/...` tree: retained messages with broker statistics, republished
 * every `sys_interval` seconds, same topic names and payload formats as Mosquitto 2.0
 * (`sys_tree.c`), so that existing dashboards keep working.
 *
 * @module
 */

import type { Broker } from "./broker.ts";
import { VERSION } from "./version.ts";

const encoder = new TextEncoder();

/** One exponentially damped load average, as Mosquitto's `calc_load`. */
interface Load {
  topic: string;
  read: () => number;
  last: number;
  values: [number, number, number];
}

const LOAD_MINUTES = [1, 5, 15] as const;

/** Publishes the `$SYS` tree of a broker. */
export class SysTree {
  readonly #broker: Broker;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Last payload per topic: Mosquitto republishes only values that changed. */
  readonly #published = new Map<string, string>();
  #loads: Load[] = [];
  #lastTick = 0;

  /** Creates the publisher; {@linkcode restart} starts it. */
  constructor(broker: Broker) {
    this.#broker = broker;
  }

  /** (Re)starts publishing at the broker's `sysInterval`; 0 turns `$SYS` off. */
  restart(): void {
    this.stop();
    const interval = this.#broker.options.sysInterval;
    if (interval <= 0) return;
    const stats = this.#broker.stats;
    const load = (topic: string, read: () => number): Load => ({
      topic,
      read,
      last: read(),
      values: [0, 0, 0],
    });
    this.#loads = [
      load("messages/received", () => stats.messagesReceived),
      load("messages/sent", () => stats.messagesSent),
      load("bytes/received", () => stats.bytesReceived),
      load("bytes/sent", () => stats.bytesSent),
      load("publish/received", () => stats.publishReceived),
      load("publish/sent", () => stats.publishSent),
      load("publish/dropped", () => stats.messagesDropped),
      load("connections", () => stats.connectionsTotal),
    ];
    this.#lastTick = Date.now();
    this.#set("$SYS/broker/version", `midge version ${VERSION}`);
    this.update();
    this.#timer = setInterval(() => this.update(), interval * 1000);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Stops publishing. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Publishes the current values now (what the timer does every interval). */
  update(): void {
    const broker = this.#broker;
    const stats = broker.stats;
    const now = Date.now();
    const connected = broker.clientsConnected;
    const total = broker.sessions.size;
    let subscriptions = 0;
    let shared = 0;
    let stored = 0;
    let storedBytes = 0;
    for (const session of broker.sessions.values()) {
      subscriptions += session.subscriptions.size;
      for (const sub of session.subscriptions.values()) if (sub.group !== undefined) shared++;
      stored += session.queue.length + session.inflight.size;
      storedBytes += session.queuedBytes;
    }
    const retained = broker.retained.size;
    const memory = Deno.memoryUsage();
    const base = "$SYS/broker/";
    this.#set(`${base}uptime`, `${Math.floor((now - broker.startedAt) / 1000)} seconds`);
    this.#set(`${base}clients/total`, String(total));
    this.#set(`${base}clients/connected`, String(connected));
    this.#set(`${base}clients/active`, String(connected)); // deprecated alias, still published
    this.#set(`${base}clients/disconnected`, String(total - connected));
    this.#set(`${base}clients/inactive`, String(total - connected));
    this.#set(`${base}clients/maximum`, String(stats.clientsMaximum));
    this.#set(`${base}clients/expired`, String(stats.sessionsExpired));
    this.#set(`${base}messages/stored`, String(stored + retained));
    this.#set(`${base}messages/received`, String(stats.messagesReceived));
    this.#set(`${base}messages/sent`, String(stats.messagesSent));
    this.#set(`${base}store/messages/count`, String(stored + retained));
    this.#set(`${base}store/messages/bytes`, String(storedBytes));
    this.#set(`${base}subscriptions/count`, String(subscriptions));
    this.#set(`${base}shared_subscriptions/count`, String(shared));
    this.#set(`${base}retained messages/count`, String(retained));
    this.#set(`${base}heap/current`, String(memory.heapUsed));
    this.#set(`${base}heap/maximum`, String(memory.heapTotal));
    this.#set(`${base}publish/messages/dropped`, String(stats.messagesDropped));
    this.#set(`${base}publish/messages/received`, String(stats.publishReceived));
    this.#set(`${base}publish/messages/sent`, String(stats.publishSent));
    this.#set(`${base}bytes/received`, String(stats.bytesReceived));
    this.#set(`${base}bytes/sent`, String(stats.bytesSent));

    // Mosquitto's load averages: per-minute rates damped over 1, 5 and 15 minutes.
    const elapsed = (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    for (const load of this.#loads) {
      const current = load.read();
      const perMinute = elapsed > 0 ? (current - load.last) * 60 / elapsed : 0;
      load.last = current;
      LOAD_MINUTES.forEach((minutes, i) => {
        if (elapsed > 0) {
          const factor = Math.exp(-elapsed / (minutes * 60));
          load.values[i] = load.values[i]! * factor + perMinute * (1 - factor);
        }
        this.#set(`${base}load/${load.topic}/${minutes}min`, load.values[i]!.toFixed(2));
      });
    }
  }

  /** Publishes `payload` retained on `topic` when it changed since the last time. */
  #set(topic: string, payload: string): void {
    if (this.#published.get(topic) === payload) return;
    this.#published.set(topic, payload);
    this.#broker.publish({
      topic,
      payload: encoder.encode(payload),
      qos: 0,
      retain: true,
      properties: undefined,
      expiresAt: 0,
      origin: "",
    }, false);
  }
}
