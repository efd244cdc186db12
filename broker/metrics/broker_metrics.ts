/**
 * The broker's instruments: plain numeric fields and small arrays that the hot path increments
 * (`metrics.dropped[Drop.QueueFull]++`, `connection.metrics.publishSent[qos]!++`), and the
 * {@linkcode MetricsRegistry} families that read them. `$SYS`, `GET /metrics` and
 * OpenTelemetry all read these families, so every number exists once.
 *
 * Per-listener counters live in one {@linkcode ListenerMetrics} per listener name
 * (`mqtt:1883`, `websockets:8080`; `direct` for transports handed to the broker by code). The
 * registry keeps them after a listener closes, so a reload never makes a counter go backwards.
 *
 * @module
 */

import type { RetainStore } from "../retain.ts";
import type { Session } from "../session.ts";
import type { Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import { Histogram, type Labels, MetricsRegistry, type Sample } from "./registry.ts";

/** Why a PUBLISH was not delivered: label values of `midge_messages_dropped_total{reason}`. */
export const DROP_REASONS = [
  "queue_full",
  "slow_reader",
  "expired",
  "not_authorized",
  "too_large",
] as const;

/** Indexes into {@linkcode BrokerMetrics.dropped}, one per {@linkcode DROP_REASONS} entry. */
export const Drop = {
  /** `max_queued_messages` / `max_queued_bytes` reached for a client [MQTT-4.9.0-2 flow]. */
  QueueFull: 0,
  /** QoS 0 to a client over its outgoing byte bound (it does not read fast enough). */
  SlowReader: 1,
  /** The Message Expiry Interval ran out while the message was queued [MQTT-3.3.2-5]. */
  Expired: 2,
  /** The publisher may not write to the topic (ACL). */
  NotAuthorized: 3,
  /** Over `message_size_limit`, or larger than a subscriber's Maximum Packet Size. */
  TooLarge: 4,
} as const;

/** Outcomes of CONNECT: label values of `midge_connects_total{result}`. */
export const CONNECT_RESULTS = [
  "accepted",
  "bad_credentials",
  "not_authorized",
  "invalid_client_id",
  "unsupported_protocol",
  "listener_full",
  "other",
] as const;

/** Indexes into {@linkcode BrokerMetrics.connects}. */
export const ConnectResult = {
  Accepted: 0,
  BadCredentials: 1,
  NotAuthorized: 2,
  InvalidClientId: 3,
  UnsupportedProtocol: 4,
  /** `max_connections` reached: refused before any packet was read. */
  ListenerFull: 5,
  Other: 6,
} as const;

/** Why a connected client went away: label values of `midge_disconnects_total{reason}`. */
export const DISCONNECT_REASONS = [
  "client",
  "connection_lost",
  "keepalive_timeout",
  "protocol_error",
  "malformed_packet",
  "taken_over",
  "server_shutdown",
  "administrative",
  "slow_reader",
] as const;

/** Indexes into {@linkcode BrokerMetrics.disconnects}. */
export const DisconnectReason = {
  /** The client sent DISCONNECT. */
  Client: 0,
  /** The socket closed or failed without a DISCONNECT. */
  ConnectionLost: 1,
  KeepAliveTimeout: 2,
  ProtocolError: 3,
  MalformedPacket: 4,
  /** Another connection took the client id over [MQTT-3.1.4-3]. */
  TakenOver: 5,
  ServerShutdown: 6,
  /** E.g. its listener was removed by a reload. */
  Administrative: 7,
  /** Over its outgoing byte bound for longer than the stuck-client timeout. */
  SlowReader: 8,
} as const;

/** The readable counters the broker has always offered (`broker.stats`), with Mosquitto's meanings. */
export interface BrokerStats {
  /** Control packets of any type received from clients (`$SYS/broker/messages/received`). */
  readonly messagesReceived: number;
  /** Control packets of any type queued to clients (`$SYS/broker/messages/sent`). */
  readonly messagesSent: number;
  /** PUBLISH packets received from clients. */
  readonly publishReceived: number;
  /** PUBLISH packets queued to clients. */
  readonly publishSent: number;
  /** Messages not delivered because a client's queue was full or it did not read. */
  readonly messagesDropped: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** Connections ever accepted. */
  readonly connectionsTotal: number;
  /** Highest number of clients connected at once. */
  readonly clientsMaximum: number;
  /** Sessions ended by their expiry interval. */
  readonly sessionsExpired: number;
}

/** Counters of one listener. Fields are incremented in place on the hot path. */
export class ListenerMetrics {
  /** The `listener` label, e.g. `mqtt:1883`. */
  readonly name: string;
  /** Connections accepted. */
  connections = 0;
  /** Control packets received. */
  packetsReceived = 0;
  /** Control packets queued to clients. */
  packetsSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** PUBLISH packets received, by QoS. */
  readonly publishReceived: number[] = [0, 0, 0];
  /** PUBLISH packets queued to clients, by QoS. */
  readonly publishSent: number[] = [0, 0, 0];

  /** Creates zeroed counters for the listener labelled `name`. */
  constructor(name: string) {
    this.name = name;
  }
}

/** The `listener` label of a listener: `mqtt:1883`, `websockets:8080`. */
export function listenerLabel(protocol: string, port: number): string {
  return `${protocol}:${port}`;
}

/** What the bridge metrics read of one bridge (`broker/bridge/bridge.ts`). */
export interface BridgeSource {
  /** The `connection` name. */
  readonly name: string;
  /** True while connected to the remote broker. */
  readonly connected: boolean;
  /** Messages sent to the remote broker and not yet acknowledged. */
  readonly inFlight: number;
  /** Its local session's client id: the session queues what waits to go out. */
  readonly config: { readonly localClientId: string };
}

/** What the metrics read from the broker, besides their own counters. */
export interface MetricsSource {
  readonly sessions: ReadonlyMap<string, Session>;
  readonly retained: RetainStore;
  readonly store: Store | undefined;
  /** `Date.now()` at start, for uptime. */
  readonly startedAt: number;
  /** The running bridges, if any. */
  readonly bridges?: { readonly all: readonly BridgeSource[] };
}

/** Totals over every session, computed once per collection. */
interface SessionTotals {
  sessions: number;
  subscriptions: number;
  shared: number;
  queued: number;
  queuedBytes: number;
  inflight: number;
}

const QOS_LABELS: readonly Labels[] = [{ qos: "0" }, { qos: "1" }, { qos: "2" }];

/** Store commit latency buckets, seconds: SQLite commits range from tens of µs to a slow disk's 100 ms. */
const COMMIT_BOUNDS = [
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/** Marks a store whose commits are already timed. */
const TIMED = Symbol("midge.timedCommits");

/** Event loop delay buckets, seconds. */
const LAG_BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The broker's counters and gauges, and the registry that exposes them. */
export class BrokerMetrics {
  /** The families: what `$SYS`, Prometheus and OpenTelemetry read. */
  readonly registry: MetricsRegistry = new MetricsRegistry();
  /** Highest number of clients connected at once. */
  clientsMaximum = 0;
  /** Sessions ended by their expiry interval. */
  sessionsExpired = 0;
  /** CONNECT outcomes, indexed by {@linkcode ConnectResult}. */
  readonly connects: number[] = CONNECT_RESULTS.map(() => 0);
  /** Disconnections of connected clients, indexed by {@linkcode DisconnectReason}. */
  readonly disconnects: number[] = DISCONNECT_REASONS.map(() => 0);
  /** PUBLISH messages not delivered, indexed by {@linkcode Drop}. */
  readonly dropped: number[] = DROP_REASONS.map(() => 0);
  /** Store commit durations, seconds. */
  readonly storeCommit: Histogram = new Histogram(COMMIT_BOUNDS);
  /** Event loop delay, seconds, sampled by the broker's once-a-second timer. */
  readonly eventLoopDelay: Histogram = new Histogram(LAG_BOUNDS);
  /** Counters of transports handed to the broker without a listener (in-memory tests). */
  readonly direct: ListenerMetrics;

  readonly #source: MetricsSource;
  readonly #listeners = new Map<string, ListenerMetrics>();
  #clientsConnected = 0;
  #lastTick = 0;
  #totals: SessionTotals = {
    sessions: 0,
    subscriptions: 0,
    shared: 0,
    queued: 0,
    queuedBytes: 0,
    inflight: 0,
  };
  #stats: BrokerStats | undefined;

  /** Creates the instruments and registers their families. */
  constructor(source: MetricsSource) {
    this.#source = source;
    this.direct = this.listener("direct");
    this.#register();
  }

  /** Clients connected now; setting it also raises {@linkcode clientsMaximum}. */
  get clientsConnected(): number {
    return this.#clientsConnected;
  }

  set clientsConnected(value: number) {
    this.#clientsConnected = value;
    if (value > this.clientsMaximum) this.clientsMaximum = value;
  }

  /** The counters of the listener labelled `name`, created on first use and kept for good. */
  listener(name: string): ListenerMetrics {
    let metrics = this.#listeners.get(name);
    if (!metrics) {
      metrics = new ListenerMetrics(name);
      this.#listeners.set(name, metrics);
    }
    return metrics;
  }

  /** Counts a refused CONNECT by the reason code it was refused with. */
  connectRefused(reasonCode: number): void {
    this.connects[connectResultOf(reasonCode)]!++;
  }

  /**
   * Called by the broker's once-a-second timer: how late it fired is how long the event loop
   * was busy (`now` is `Date.now()`).
   */
  sampleEventLoop(now: number, intervalMs = 1000): void {
    if (this.#lastTick !== 0) {
      const lag = Math.max(0, now - this.#lastTick - intervalMs) / 1000;
      this.eventLoopDelay.observe(lag);
    }
    this.#lastTick = now;
  }

  /**
   * Makes `store` time each commit that has something to write into {@linkcode storeCommit},
   * whoever calls it (the connection before an acknowledgement, the store's own end-of-tick
   * commit). Wraps `commit` on that one object, once.
   */
  timeCommits(store: Store): void {
    const timed = store as Store & { [TIMED]?: true };
    if (timed[TIMED]) return;
    timed[TIMED] = true;
    const commit = store.commit.bind(store);
    const histogram = this.storeCommit;
    store.commit = () => {
      if (!store.dirty) return commit();
      const start = performance.now();
      try {
        commit();
      } finally {
        histogram.observe((performance.now() - start) / 1000);
      }
    };
  }

  /**
   * Totals in Mosquitto's `$SYS` meanings, read from the same counters (a view, not a copy):
   * what `broker.stats` returns.
   */
  get stats(): BrokerStats {
    if (this.#stats) return this.#stats;
    const listeners = this.#listeners;
    const total = (read: (m: ListenerMetrics) => number) => {
      let sum = 0;
      for (const metrics of listeners.values()) sum += read(metrics);
      return sum;
    };
    const qosTotal = (counts: number[]) => (counts[0] as number) + counts[1]! + counts[2]!;
    const dropped = this.dropped;
    // deno-lint-ignore no-this-alias
    const self = this;
    this.#stats = {
      get messagesReceived() {
        return total((m) => m.packetsReceived);
      },
      get messagesSent() {
        return total((m) => m.packetsSent);
      },
      get publishReceived() {
        return total((m) => qosTotal(m.publishReceived));
      },
      get publishSent() {
        return total((m) => qosTotal(m.publishSent));
      },
      get messagesDropped() {
        // Mosquitto's `publish/messages/dropped`: queue full and QoS 0 to slow readers.
        return dropped[Drop.QueueFull]! + dropped[Drop.SlowReader]!;
      },
      get bytesReceived() {
        return total((m) => m.bytesReceived);
      },
      get bytesSent() {
        return total((m) => m.bytesSent);
      },
      get connectionsTotal() {
        return total((m) => m.connections);
      },
      get clientsMaximum() {
        return self.clientsMaximum;
      },
      get sessionsExpired() {
        return self.sessionsExpired;
      },
    };
    return this.#stats;
  }

  /** Listeners to report: every named one, `direct` only once it was used. */
  *#reported(): Generator<ListenerMetrics> {
    for (const metrics of this.#listeners.values()) {
      if (metrics !== this.direct || metrics.connections > 0) yield metrics;
    }
  }

  #perListener(read: (m: ListenerMetrics) => number): Sample[] {
    const samples: Sample[] = [];
    for (const metrics of this.#reported()) {
      samples.push({ labels: { listener: metrics.name }, value: read(metrics) });
    }
    return samples;
  }

  #perListenerQos(read: (m: ListenerMetrics) => number[]): Sample[] {
    const samples: Sample[] = [];
    for (const metrics of this.#reported()) {
      const counts = read(metrics);
      for (let qos = 0; qos < 3; qos++) {
        samples.push({
          labels: { listener: metrics.name, ...QOS_LABELS[qos] },
          value: counts[qos] as number,
        });
      }
    }
    return samples;
  }

  #register(): void {
    const r = this.registry;
    const source = this.#source;
    r.beforeCollect(() => {
      this.#totals = sessionTotals(source.sessions);
    });
    const byIndex = (names: readonly string[], label: string, counts: number[]) => () =>
      names.map((name, i) => ({ labels: { [label]: name }, value: counts[i] as number }));

    r.gauge({
      name: "midge_build_info",
      help: "Build of the running broker: midge version, Deno version, OS and CPU architecture.",
    }, () => [{
      labels: {
        version: VERSION,
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        os: Deno.build.os,
        arch: Deno.build.arch,
      },
      value: 1,
    }]);
    r.gauge(
      { name: "midge_uptime_seconds", help: "Seconds since the broker started." },
      () => (Date.now() - source.startedAt) / 1000,
    );

    // Clients and connections.
    r.gauge(
      { name: "midge_clients_connected", help: "Clients connected now." },
      () => this.#clientsConnected,
    );
    r.gauge(
      { name: "midge_clients_maximum", help: "Most clients connected at once since the start." },
      () => this.clientsMaximum,
    );
    r.gauge({
      name: "midge_clients_known",
      help:
        "Clients the broker has a session for: connected ones and disconnected persistent ones.",
    }, () => this.#totals.sessions);
    r.counter({
      name: "midge_connections_total",
      help: "Network connections accepted, by listener.",
    }, () => this.#perListener((m) => m.connections));
    r.counter(
      { name: "midge_connects_total", help: "CONNECT packets handled, by result." },
      byIndex(CONNECT_RESULTS, "result", this.connects),
    );
    r.counter(
      { name: "midge_disconnects_total", help: "Connected clients that went away, by reason." },
      byIndex(DISCONNECT_REASONS, "reason", this.disconnects),
    );
    r.counter(
      { name: "midge_sessions_expired_total", help: "Sessions ended by their expiry interval." },
      () => this.sessionsExpired,
    );

    // Traffic.
    r.counter({
      name: "midge_messages_received_total",
      help: "PUBLISH packets received from clients, by QoS and listener.",
    }, () => this.#perListenerQos((m) => m.publishReceived));
    r.counter({
      name: "midge_messages_sent_total",
      help: "PUBLISH packets sent to clients, by QoS and listener.",
    }, () => this.#perListenerQos((m) => m.publishSent));
    r.counter({
      name: "midge_messages_dropped_total",
      help: "PUBLISH messages not delivered, by reason.",
    }, byIndex(DROP_REASONS, "reason", this.dropped));
    r.counter({
      name: "midge_packets_received_total",
      help: "MQTT control packets of any type received, by listener.",
    }, () => this.#perListener((m) => m.packetsReceived));
    r.counter({
      name: "midge_packets_sent_total",
      help: "MQTT control packets of any type sent, by listener.",
    }, () => this.#perListener((m) => m.packetsSent));
    r.counter(
      { name: "midge_bytes_received_total", help: "Bytes received from clients, by listener." },
      () => this.#perListener((m) => m.bytesReceived),
    );
    r.counter(
      { name: "midge_bytes_sent_total", help: "Bytes written to clients, by listener." },
      () => this.#perListener((m) => m.bytesSent),
    );

    // State.
    r.gauge(
      { name: "midge_subscriptions", help: "Subscriptions of all sessions, shared ones included." },
      () => this.#totals.subscriptions,
    );
    r.gauge(
      { name: "midge_shared_subscriptions", help: "Shared subscriptions ($share/...)." },
      () => this.#totals.shared,
    );
    r.gauge(
      { name: "midge_retained_messages", help: "Retained messages stored." },
      () => source.retained.size,
    );
    r.gauge({
      name: "midge_queued_messages",
      help: "Messages queued for clients (offline, or waiting for an in-flight slot).",
    }, () => this.#totals.queued);
    r.gauge(
      { name: "midge_queued_bytes", help: "Payload bytes of the queued messages." },
      () => this.#totals.queuedBytes,
    );
    r.gauge({
      name: "midge_inflight_messages",
      help: "Outgoing QoS 1 and 2 messages sent and not yet acknowledged.",
    }, () => this.#totals.inflight);

    // Bridges, by their `connection` name.
    const bridges = () => source.bridges?.all ?? [];
    r.gauge({
      name: "midge_bridge_connected",
      help: "1 while the bridge connection is up, 0 while it is down, by connection.",
    }, () =>
      bridges().map((bridge) => ({
        labels: { connection: bridge.name },
        value: bridge.connected ? 1 : 0,
      })));
    r.gauge({
      name: "midge_bridge_queued_messages",
      help: "Messages waiting to go to the remote broker or unacknowledged by it, by connection.",
    }, () =>
      bridges().map((bridge) => ({
        labels: { connection: bridge.name },
        value: bridge.inFlight +
          (source.sessions.get(bridge.config.localClientId)?.queue.length ?? 0),
      })));

    // Persistence.
    r.histogram({
      name: "midge_store_commit_duration_seconds",
      help: "Time to commit the persistence store (before acknowledgements go out).",
      enabled: () => source.store !== undefined,
    }, () => this.storeCommit.samples());

    // Process.
    r.gauge(
      { name: "midge_process_resident_memory_bytes", help: "Resident set size of the process." },
      () => Deno.memoryUsage().rss,
    );
    r.gauge(
      { name: "midge_heap_used_bytes", help: "V8 heap in use." },
      () => Deno.memoryUsage().heapUsed,
    );
    r.gauge(
      { name: "midge_heap_total_bytes", help: "V8 heap allocated." },
      () => Deno.memoryUsage().heapTotal,
    );
    r.histogram({
      name: "midge_event_loop_delay_seconds",
      help: "How late the broker's once-a-second timer fired: time the event loop was busy.",
    }, () => this.eventLoopDelay.samples());
  }
}

/** One pass over the sessions for every gauge that needs one. */
function sessionTotals(sessions: ReadonlyMap<string, Session>): SessionTotals {
  const totals: SessionTotals = {
    sessions: sessions.size,
    subscriptions: 0,
    shared: 0,
    queued: 0,
    queuedBytes: 0,
    inflight: 0,
  };
  for (const session of sessions.values()) {
    totals.subscriptions += session.subscriptions.size;
    for (const sub of session.subscriptions.values()) if (sub.group !== undefined) totals.shared++;
    totals.queued += session.queue.length;
    totals.queuedBytes += session.queuedBytes;
    totals.inflight += session.inflight.size;
  }
  return totals;
}

/** The `result` label index of a CONNECT refused with `reasonCode` (MQTT 5 codes). */
function connectResultOf(reasonCode: number): number {
  switch (reasonCode) {
    case 0x86: // Bad User Name or Password
      return ConnectResult.BadCredentials;
    case 0x87: // Not authorized
    case 0x8c: // Bad authentication method
      return ConnectResult.NotAuthorized;
    case 0x85: // Client Identifier not valid
      return ConnectResult.InvalidClientId;
    case 0x84: // Unsupported Protocol Version
      return ConnectResult.UnsupportedProtocol;
    default:
      return ConnectResult.Other;
  }
}

/** The `reason` label index for a server-side DISCONNECT with `reasonCode`. */
export function disconnectReasonOf(reasonCode: number): number {
  switch (reasonCode) {
    case 0x8d: // Keep Alive timeout
      return DisconnectReason.KeepAliveTimeout;
    case 0x8e: // Session taken over
      return DisconnectReason.TakenOver;
    case 0x8b: // Server shutting down
      return DisconnectReason.ServerShutdown;
    case 0x98: // Administrative action
      return DisconnectReason.Administrative;
    case 0x81: // Malformed Packet
      return DisconnectReason.MalformedPacket;
    default:
      return DisconnectReason.ProtocolError;
  }
}
