/**
 * Mosquitto's `$SYS/broker/...` tree: retained messages with broker statistics, republished
 * every `sys_interval` seconds, same topic names and payload formats as Mosquitto 2.0
 * (`sys_tree.c`), so that existing dashboards keep working. Every number is read from the
 * broker's metrics registry, the same one `GET /metrics` renders.
 *
 * While a listener serves the dashboard, the tree also carries one retained JSON message per
 * session on `$SYS/broker/clients/info/<client id>` (see {@linkcode clientInfoTopic}), which the
 * dashboard lists; it is removed (an empty retained message) when the session ends.
 *
 * @module
 */

import type { Broker } from "./broker.ts";
import type { MetricsSnapshot } from "./metrics/registry.ts";
import type { Session } from "./session.ts";
import { VERSION } from "./version.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** One exponentially damped load average, as Mosquitto's `calc_load`. */
interface Load {
  topic: string;
  read: (snapshot: MetricsSnapshot) => number;
  last: number;
  values: [number, number, number];
}

const LOAD_MINUTES = [1, 5, 15] as const;

/** Protocol versions as people write them. */
const PROTOCOL_NAMES = { 3: "3.1", 4: "3.1.1", 5: "5.0" } as const;

/** Mosquitto's `publish/messages/dropped`: queue full and QoS 0 to slow readers only. */
const MOSQUITTO_DROPS = new Set(["queue_full", "slow_reader"]);

/**
 * The topic of a client's info message: `$SYS/broker/clients/info/` and the client id with `%`,
 * `/`, `+` and `#` percent-encoded, so that every client id is exactly one topic level.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientInfoTopic } from "./sys_tree.ts";
 * assert.equal(clientInfoTopic("kitchen/plug+1"), "$SYS/broker/clients/info/kitchen%2Fplug%2B1");
 * ```
 */
export function clientInfoTopic(clientId: string): string {
  return `$SYS/broker/clients/info/${
    clientId.replace(/[%/+#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  }`;
}

/**
 * The JSON payload of `$SYS/broker/clients/info/<client id>`: who the client is and what it has,
 * read by the dashboard's client list.
 */
export interface ClientInfo {
  id: string;
  connected: boolean;
  /** "3.1", "3.1.1" or "5.0". */
  protocol: string;
  username?: string;
  /** Peer address and port while connected. */
  address?: string;
  port?: number;
  /** The `listener` label of the listener it came through, e.g. `websockets:8080`. */
  listener?: string;
  /** `Date.now()` when its CONNECT was accepted, while connected. */
  connectedAt?: number;
  /** `Date.now()` when it went away, while disconnected. */
  disconnectedAt?: number;
  keepalive?: number;
  subscriptions: number;
  /** Messages queued for it. */
  queued: number;
  /** QoS 1/2 messages sent and not yet acknowledged. */
  inflight: number;
}

/** Publishes the `$SYS` tree of a broker. */
export class SysTree {
  readonly #broker: Broker;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Last payload per topic: Mosquitto republishes only values that changed. */
  readonly #published = new Map<string, string>();
  /** Last info payload per client id. */
  readonly #clientInfo = new Map<string, string>();
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
    const snapshot = this.#broker.metrics.registry.collect();
    const load = (topic: string, read: (s: MetricsSnapshot) => number): Load => ({
      topic,
      read,
      last: read(snapshot),
      values: [0, 0, 0],
    });
    const sum = (name: string) => (s: MetricsSnapshot) => s.sum(name);
    this.#loads = [
      load("messages/received", sum("midge_packets_received_total")),
      load("messages/sent", sum("midge_packets_sent_total")),
      load("bytes/received", sum("midge_bytes_received_total")),
      load("bytes/sent", sum("midge_bytes_sent_total")),
      load("publish/received", sum("midge_messages_received_total")),
      load("publish/sent", sum("midge_messages_sent_total")),
      load("publish/dropped", mosquittoDrops),
      load("connections", sum("midge_connections_total")),
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
    const s = broker.metrics.registry.collect();
    const now = Date.now();
    const connected = s.sum("midge_clients_connected");
    const total = s.sum("midge_clients_known");
    const retained = s.sum("midge_retained_messages");
    const stored = s.sum("midge_queued_messages") + s.sum("midge_inflight_messages") + retained;
    const base = "$SYS/broker/";
    this.#set(`${base}clients/total`, String(total));
    this.#set(`${base}clients/connected`, String(connected));
    this.#set(`${base}clients/active`, String(connected)); // deprecated alias, still published
    this.#set(`${base}clients/disconnected`, String(total - connected));
    this.#set(`${base}clients/inactive`, String(total - connected));
    this.#set(`${base}clients/maximum`, String(s.sum("midge_clients_maximum")));
    this.#set(`${base}clients/expired`, String(s.sum("midge_sessions_expired_total")));
    this.#set(`${base}messages/stored`, String(stored));
    this.#set(`${base}messages/received`, String(s.sum("midge_packets_received_total")));
    this.#set(`${base}messages/sent`, String(s.sum("midge_packets_sent_total")));
    this.#set(`${base}store/messages/count`, String(stored));
    this.#set(`${base}store/messages/bytes`, String(s.sum("midge_queued_bytes")));
    this.#set(`${base}subscriptions/count`, String(s.sum("midge_subscriptions")));
    this.#set(`${base}shared_subscriptions/count`, String(s.sum("midge_shared_subscriptions")));
    this.#set(`${base}retained messages/count`, String(retained));
    this.#set(`${base}heap/current`, String(s.sum("midge_heap_used_bytes")));
    this.#set(`${base}heap/maximum`, String(s.sum("midge_heap_total_bytes")));
    this.#set(`${base}publish/messages/dropped`, String(mosquittoDrops(s)));
    this.#set(`${base}publish/messages/received`, String(s.sum("midge_messages_received_total")));
    this.#set(`${base}publish/messages/sent`, String(s.sum("midge_messages_sent_total")));
    this.#set(`${base}bytes/received`, String(s.sum("midge_bytes_received_total")));
    this.#set(`${base}bytes/sent`, String(s.sum("midge_bytes_sent_total")));

    // Mosquitto's load averages: per-minute rates damped over 1, 5 and 15 minutes.
    const elapsed = (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    for (const load of this.#loads) {
      const current = load.read(s);
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
    this.#updateClientInfo(broker.dashboardEnabled);
    // Last, so that a subscriber seeing uptime change has every value of this update already.
    this.#set(`${base}uptime`, `${Math.floor(s.sum("midge_uptime_seconds"))} seconds`);
  }

  /** Publishes changed client info, and removes that of sessions that ended. */
  #updateClientInfo(enabled: boolean): void {
    const sessions = this.#broker.sessions;
    const known = this.#clientInfo;
    for (const clientId of known.keys()) {
      if (enabled && sessions.has(clientId)) continue;
      known.delete(clientId);
      this.#publish(clientInfoTopic(clientId), EMPTY);
    }
    if (!enabled) return;
    for (const session of sessions.values()) {
      const payload = JSON.stringify(clientInfo(session));
      if (known.get(session.clientId) === payload) continue;
      known.set(session.clientId, payload);
      this.#publish(clientInfoTopic(session.clientId), encoder.encode(payload));
    }
  }

  /** Publishes `payload` retained on `topic` when it changed since the last time. */
  #set(topic: string, payload: string): void {
    if (this.#published.get(topic) === payload) return;
    this.#published.set(topic, payload);
    this.#publish(topic, encoder.encode(payload));
  }

  #publish(topic: string, payload: Uint8Array): void {
    this.#broker.publish({
      topic,
      payload,
      qos: 0,
      retain: true,
      properties: undefined,
      expiresAt: 0,
      origin: "",
    });
  }
}

function mosquittoDrops(s: MetricsSnapshot): number {
  return s.sum(
    "midge_messages_dropped_total",
    (labels) => MOSQUITTO_DROPS.has(labels.reason ?? ""),
  );
}

/** What the dashboard shows of one session. */
function clientInfo(session: Session): ClientInfo {
  const connection = session.connection;
  const info: ClientInfo = {
    id: session.clientId,
    connected: connection !== undefined,
    protocol: PROTOCOL_NAMES[session.protocolVersion],
    subscriptions: session.subscriptions.size,
    queued: session.queue.length,
    inflight: session.inflight.size,
  };
  const username = session.identity.username;
  if (username !== undefined) info.username = username;
  if (connection) {
    info.address = connection.transport.remoteAddress;
    info.port = connection.transport.remotePort;
    info.listener = connection.metrics.name;
    info.connectedAt = connection.connectedAt;
    info.keepalive = connection.keepalive;
  } else {
    info.disconnectedAt = session.disconnectedAt;
  }
  return info;
}
