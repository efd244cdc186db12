/**
 * The broker: owns sessions, subscriptions, retained messages, connections and listeners, and
 * routes every message. Transport-agnostic: listeners hand it {@linkcode Transport}s.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { encodePublish, setPublishDup, setPublishPacketId } from "../codec/publish.ts";
import { ReasonCode } from "../codec/reason_code.ts";
import type { Properties, PublishPacket, QoS, Will } from "../codec/types.ts";
import { Connection } from "./connection.ts";
import type { RunningListener } from "./listeners/listener.ts";
import { BrokerListener, listenerKey, type ListenerSpec } from "./broker_listener.ts";
import {
  brokerOptionsFromConfig,
  listenerSettingsFromConfig,
  loadTlsSupport,
  usesTls,
} from "./config/apply.ts";
import type { BrokerConfig } from "./config/types.ts";
import { compactMessage, isExpired, type Message, remainingExpiry } from "./message.ts";
import {
  type BrokerOptions,
  defaultListenerSettings,
  type ListenerSettings,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import { RetainStore } from "./retain.ts";
import type { SecurityPolicy } from "./auth/security.ts";
import { BridgeManager } from "./bridge/bridges.ts";
import {
  BrokerMetrics,
  type BrokerStats,
  ConnectResult,
  DisconnectReason,
  Drop,
  listenerLabel,
} from "./metrics/broker_metrics.ts";
import { serveHttp } from "./metrics/http.ts";
import { openTelemetryEnabled } from "./metrics/otel_enabled.ts";
import { type InflightMessage, type QueuedMessage, Session } from "./session.ts";
import type { Store } from "./store/store.ts";
import { SubscriptionTree } from "./subscriptions.ts";
import { SysTree } from "./sys_tree.ts";
import type { Transport } from "./transport.ts";

/** Where and how {@linkcode Broker.listen} listens. */
export interface ListenOptions {
  /** TCP port, 0 to let the OS choose (default 1883). */
  port?: number;
  /**
   * Address to bind. Without one, the broker binds 127.0.0.1 and ::1 only, like Mosquitto 2.0's
   * local-only mode when no listener is configured.
   */
  hostname?: string;
  /** `mqtt` (default) or `websockets` (MQTT over WebSocket, subprotocol `mqtt`). */
  protocol?: "mqtt" | "websockets";
  /**
   * Per-listener settings; default from the broker options. On a `websockets` listener,
   * `{ metrics: true }` serves `GET /metrics` and `{ dashboard: true }` the web dashboard.
   */
  settings?: Partial<ListenerSettings>;
}

export type { BrokerStats } from "./metrics/broker_metrics.ts";

/**
 * An MQTT 3.1 / 3.1.1 / 5.0 broker.
 *
 * @example
 * ```ts
 * import { Broker } from "./broker.ts";
 * const broker = new Broker();
 * const [listener] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
 * console.log(`listening on ${listener?.port}`);
 * await broker.close();
 * ```
 */
export class Broker {
  /** Settings with defaults filled in. */
  readonly options: ResolvedOptions;
  /** Where the broker logs. */
  readonly log: Logger;
  /** All subscriptions. */
  readonly subscriptions: SubscriptionTree;
  /** Retained messages. */
  readonly retained = new RetainStore();
  /** Sessions by client id, online and offline. */
  readonly sessions = new Map<string, Session>();
  /** Open connections, including those that have not sent CONNECT yet. */
  readonly connections = new Set<Connection>();
  /**
   * Counters and gauges: the one registry that `$SYS`, `GET /metrics` and OpenTelemetry read.
   * The hot path increments its plain fields.
   */
  readonly metrics: BrokerMetrics;
  /** Where state is persisted; undefined keeps everything in memory only. */
  get store(): Store | undefined {
    return this.#store;
  }

  set store(store: Store | undefined) {
    this.#store = store;
    // Every commit, the store's own included, goes into midge_store_commit_duration_seconds.
    // (Set by the constructor before the metrics exist, the store is timed once they do.)
    if (store && this.metrics) this.metrics.timeCommits(store);
  }

  #store: Store | undefined;
  /** The `$SYS/broker/...` publisher. */
  readonly sys: SysTree;
  /** Bridges to other brokers (`connection` sections), started and reconciled by applyConfig. */
  readonly bridges: BridgeManager = new BridgeManager(this);
  /** `Date.now()` when the broker was created, for `$SYS/broker/uptime`. */
  readonly startedAt = Date.now();
  readonly #listeners: BrokerListener[] = [];
  readonly #defaultListener: BrokerListener;
  #openTelemetry: { stop(): void } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closing = false;
  #publishingLog = false;

  /** Creates a broker; it accepts clients once {@linkcode listen} is called. */
  constructor(options: BrokerOptions = {}) {
    this.options = resolveOptions(options);
    this.store = options.store;
    this.log = options.log ?? getLogger(["midge"]);
    this.metrics = new BrokerMetrics(this);
    if (this.#store) this.metrics.timeCommits(this.#store);
    this.sys = new SysTree(this);
    this.#defaultListener = new BrokerListener(
      { protocol: "mqtt", port: 0 },
      defaultListenerSettings(this.options),
    );
    this.#defaultListener.metrics = this.metrics.direct;
    if (openTelemetryEnabled()) {
      // Loaded only when exporting: the OpenTelemetry API costs memory an idle Pi should keep.
      import("./metrics/otel.ts").then(({ exportToOpenTelemetry }) => {
        if (!this.#closing) this.#openTelemetry = exportToOpenTelemetry(this.metrics.registry);
      });
    }
    // Shared subscriptions prefer a member that is online, then round-robin [MQTT-4.8.2-3].
    this.subscriptions = new SubscriptionTree((members, start) => {
      for (let i = 0; i < members.length; i++) {
        const index = (start + i) % members.length;
        const member = members[index];
        if (member && this.sessions.get(member.clientId)?.connection) return index;
      }
      return start;
    });
  }

  /** Counters in Mosquitto's `$SYS` meanings: a view of {@linkcode metrics}, for tests and embedders. */
  get stats(): BrokerStats {
    return this.metrics.stats;
  }

  /** Clients connected now (CONNECT accepted, connection open). */
  get clientsConnected(): number {
    return this.metrics.clientsConnected;
  }

  set clientsConnected(value: number) {
    this.metrics.clientsConnected = value;
  }

  /** True while some listener serves the dashboard: `$SYS` then carries per-client info for it. */
  get dashboardEnabled(): boolean {
    return this.#listeners.some((listener) => listener.settings.dashboard);
  }

  /** The sockets that are open, over all listeners. */
  get listeners(): readonly RunningListener[] {
    return this.#listeners.flatMap((listener) => listener.sockets);
  }

  /**
   * Opens a listener (in local-only mode, without `hostname`: 127.0.0.1 and ::1 on one port) and
   * logs `Opening ipv4 listen socket on port 1883.` as Mosquitto does. Returns the sockets bound.
   */
  async listen(options: ListenOptions = {}): Promise<RunningListener[]> {
    const protocol = options.protocol ?? "mqtt";
    const port = options.port ?? 1883;
    const settings = { ...defaultListenerSettings(this.options), ...options.settings };
    const noDelay = this.options.setTcpNodelay;
    if (options.hostname !== undefined) {
      const listener = await this.#openListener(
        { protocol, port, hostname: options.hostname, noDelay },
        settings,
      );
      return [...listener.sockets];
    }
    const v4 = await this.#openListener(
      { protocol, port, hostname: "127.0.0.1", noDelay },
      settings,
    );
    try {
      const v6 = await this.#openListener(
        { protocol, port: v4.port, hostname: "::1", noDelay },
        settings,
      );
      return [...v4.sockets, ...v6.sockets];
    } catch (error) {
      // A host without IPv6 still serves IPv4, as Mosquitto does.
      if (!(error instanceof Deno.errors.AddrNotAvailable)) {
        await this.#closeListener(v4);
        throw error;
      }
      this.log.warn(`Warning: Unable to open ipv6 listen socket on port ${v4.port}.`);
      return [...v4.sockets];
    }
  }

  /**
   * Applies a configuration: global limits at once, listeners reconciled. New listeners open
   * first; if one cannot open, those just opened close again and the error is thrown with the
   * running configuration untouched. Then removed listeners close (their clients are
   * disconnected) and kept ones take their new settings, their clients staying connected.
   */
  async applyConfig(config: BrokerConfig): Promise<void> {
    if (usesTls(config)) await loadTlsSupport();
    const wanted = config.listeners.map((l) => ({
      spec: {
        protocol: l.protocol,
        port: l.port,
        hostname: l.bindAddress,
        socketDomain: l.socketDomain,
        noDelay: true, // see brokerOptionsFromConfig: midge batches its own writes
      },
      settings: listenerSettingsFromConfig(config, l),
    }));
    const existing = new Map(this.#listeners.map((l) => [l.key, l]));
    const opened: BrokerListener[] = [];
    try {
      for (const { spec, settings } of wanted) {
        if (!existing.has(listenerKey(spec))) opened.push(await this.#openListener(spec, settings));
      }
    } catch (error) {
      for (const listener of opened) await this.#closeListener(listener);
      throw error;
    }
    const keep = new Set(wanted.map(({ spec }) => listenerKey(spec)));
    for (const listener of [...this.#listeners]) {
      if (!keep.has(listener.key)) await this.#closeListener(listener, true);
    }
    for (const { spec, settings } of wanted) {
      const listener = existing.get(listenerKey(spec));
      if (listener) listener.settings = settings;
    }
    Object.assign(
      this.options,
      resolveOptions({ ...brokerOptionsFromConfig(config), log: this.options.log }),
    );
    this.#refreshOfflinePolicies();
    this.sys.restart();
    // Last, so that bridges see the new limits and security: unchanged ones keep running.
    await this.bridges.apply(config.bridges ?? []);
  }

  /**
   * Gives offline sessions the current policy of the listener they last used (a reloaded ACL
   * applies to what is queued for them), or of the first listener when that one is gone or the
   * session was restored from the store, so no restored session routes around the read ACL.
   */
  #refreshOfflinePolicies(): void {
    const byKey = new Map(this.#listeners.map((l) => [l.key, l]));
    const fallback = this.#listeners[0]?.settings.security;
    for (const session of this.sessions.values()) {
      if (session.connection) continue;
      const policy = (session.listenerKey !== undefined
        ? byKey.get(session.listenerKey)?.settings.security
        : undefined) ?? fallback;
      if (policy) {
        session.security = policy;
      }
    }
  }

  /**
   * A listener for the broker's own clients (bridges), bound to no socket: clients handed to
   * {@linkcode handleTransport} with it get the settings of `listen()` with `settings` over them,
   * and count with those clients.
   */
  internalListener(settings: Partial<ListenerSettings>): BrokerListener {
    const listener = new BrokerListener(
      { protocol: "mqtt", port: 0 },
      { ...defaultListenerSettings(this.options), ...settings },
    );
    listener.metrics = this.#defaultListener.metrics;
    return listener;
  }

  /** The security policy the broker's own clients are checked against: the first listener's. */
  get internalClientSecurity(): SecurityPolicy {
    return (this.#listeners[0] ?? this.#defaultListener).settings.security;
  }

  async #openListener(spec: ListenerSpec, settings: ListenerSettings): Promise<BrokerListener> {
    const listener = new BrokerListener(spec, settings);
    let families: ("ipv4" | "ipv6")[];
    try {
      families = await listener.open(
        (transport, from) => this.handleTransport(transport, from),
        (request, from) => this.handleHttp(request, from),
      );
    } catch (error) {
      if (spec.hostname !== "::1" || !(error instanceof Deno.errors.AddrNotAvailable)) throw error;
      // A host without IPv6 still serves IPv4 in local-only mode, as Mosquitto does.
      this.log.warn(`Warning: Unable to open ipv6 listen socket on port ${spec.port}.`);
      return listener;
    }
    listener.metrics = this.metrics.listener(listenerLabel(spec.protocol, listener.port));
    for (const family of families) {
      this.log.info(
        `Opening ${family} listen socket on port ${listener.port}` +
          (spec.protocol === "websockets" ? " (websockets)." : "."),
      );
    }
    this.#listeners.push(listener);
    this.#startTimer();
    return listener;
  }

  async #closeListener(listener: BrokerListener, disconnectClients = false): Promise<void> {
    const index = this.#listeners.indexOf(listener);
    if (index >= 0) this.#listeners.splice(index, 1);
    await listener.close();
    if (!disconnectClients) return;
    this.log.info(`Closing listener on port ${listener.port}.`);
    for (const connection of this.connections) {
      if (connection.listener === listener) {
        connection.disconnect(ReasonCode.AdministrativeAction, "Listener removed by a reload");
      }
    }
    const deadline = Date.now() + 1000;
    while (listener.connectionCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await listener.close();
  }

  /**
   * Serves one client over `transport` (what listeners call; tests use in-memory pipes). Without
   * a `listener` the client gets the settings of `listen()`.
   */
  handleTransport(transport: Transport, listener?: BrokerListener): Connection {
    const from = listener ?? this.#defaultListener;
    const connection = new Connection(this, transport, from);
    if (this.#closing) {
      transport.close();
      return connection;
    }
    const max = from.settings.maxConnections;
    if (max >= 0 && from.connectionCount >= max) {
      // Mosquitto's max_connections: refuse at accept time, before any packet.
      this.log.info(`Client connection from ${connection.peer} denied: too many connections.`);
      this.metrics.connects[ConnectResult.ListenerFull]!++;
      transport.close();
      return connection;
    }
    from.connectionCount++;
    connection.metrics.connections++;
    this.connections.add(connection);
    if (this.options.connectionMessages) {
      this.log.info(`New connection from ${connection.peer} on port ${from.port}.`);
    }
    connection.start();
    this.#startTimer();
    return connection;
  }

  /**
   * Answers a plain HTTP request to a WebSocket listener: `GET /metrics` with `metrics true`,
   * the dashboard with `dashboard true` (read live, so a reload switches them). Undefined when
   * neither applies, and the listener answers as before.
   */
  handleHttp(request: Request, listener: BrokerListener): Response | Promise<Response> | undefined {
    const { metrics, dashboard } = listener.settings;
    if (!metrics && !dashboard) return undefined;
    return serveHttp(request, { metrics, dashboard, registry: this.metrics.registry });
  }

  /**
   * Stops accepting, sends v5 clients DISCONNECT 0x8B (Server shutting down), closes every
   * connection and listener.
   */
  async close(): Promise<void> {
    // Bridges first, while their internal connections can still end in an orderly way.
    await this.bridges.stopAll();
    this.#closing = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#openTelemetry?.stop();
    const listeners = this.#listeners.splice(0);
    await Promise.all(listeners.map((l) => l.close()));
    this.sys.stop();
    for (const connection of this.connections) {
      // No wills on shutdown: the clients did nothing wrong [MQTT-3.1.2-8 lists the triggers].
      connection.publishWillOnClose = false;
      if (connection.state === "connected") {
        connection.disconnect(ReasonCode.ServerShuttingDown, "Server shutting down");
      } else {
        connection.destroy();
      }
    }
    // Give DISCONNECT packets a moment to leave, then drop whatever is still open.
    const deadline = Date.now() + 1000;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const connection of this.connections) connection.destroy();
    while (this.connections.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // Now that no client is left, WebSocket servers can shut down and release their ports.
    await Promise.all(listeners.map((l) => l.close()));
    // Sessions recorded their disconnection; the store's owner closes it.
    this.store?.commit();
  }

  /**
   * Routes a message to every matching subscription and stores it when retained. Returns how
   * many clients it was delivered or queued to. Received PUBLISH packets are counted where they
   * arrive (`handlePublish`, per listener and QoS), as Mosquitto counts them, so the broker's own
   * messages (`$SYS`, log lines, wills) are not.
   */
  publish(message: Message): number {
    if (message.retain && this.options.retainAvailable) {
      const retained = compactMessage(message);
      this.retained.set(retained);
      // `$SYS` is the broker's own state, republished after a restart: not saved, as in
      // Mosquitto's persist_write.c (and not worth a write every sys_interval).
      if (!retained.topic.startsWith("$SYS/")) this.store?.putRetained(retained);
    }
    const { deliveries, shared } = this.subscriptions.match(message.topic, message.origin);
    const count = deliveries.length + shared.length;
    if (count === 0) return 0;
    const cache: (Uint8Array | undefined)[] = [];
    const now = Date.now();
    for (const list of [deliveries, shared]) {
      for (const delivery of list) {
        const session = this.sessions.get(delivery.clientId);
        if (!session) continue;
        // The listener's live policy while connected, so a reloaded ACL applies at once.
        const security = session.connection?.listener.settings.security ?? session.security;
        if (security.restrictsRead && !security.canRead(session.identity, message.topic)) continue;
        this.deliver(
          session,
          {
            message,
            qos: (message.qos < delivery.qos ? message.qos : delivery.qos) as QoS,
            // [MQTT-3.3.1-12] / [MQTT-3.3.1-13]: RETAIN is cleared unless retain-as-published.
            retain: delivery.retainAsPublished ? message.retain : false,
            identifiers: delivery.identifiers,
          },
          cache,
          now,
        );
      }
    }
    return count;
  }

  /**
   * Publishes a log line on `$SYS/broker/log/<E|W|N|D>` (Mosquitto's `log_dest topic`). Lines
   * logged while doing so are not published again.
   */
  publishLog(level: string, line: string): void {
    if (this.#publishingLog || this.#closing) return;
    this.#publishingLog = true;
    try {
      const letter = level === "error" || level === "fatal"
        ? "E"
        : level === "warning"
        ? "W"
        : level === "info"
        ? "N"
        : "D";
      this.publish({
        topic: `$SYS/broker/log/${letter}`,
        payload: new TextEncoder().encode(line),
        qos: 0,
        retain: false,
        properties: undefined,
        expiresAt: 0,
        origin: "",
      });
    } finally {
      this.#publishingLog = false;
    }
  }

  /** Publishes a will (or delayed will) of a client that has gone. */
  publishWill(clientId: string, will: Will): void {
    const props = will.properties;
    let properties: Properties | undefined;
    let expiresAt = 0;
    if (props) {
      const { willDelayInterval: _delay, messageExpiryInterval, ...rest } = props;
      properties = Object.keys(rest).length > 0 ? rest : undefined;
      if (messageExpiryInterval !== undefined) {
        expiresAt = Date.now() + messageExpiryInterval * 1000;
      }
    }
    if (this.options.verbose) {
      this.log.debug(`Sending will of client ${clientId} on topic "${will.topic}".`);
    }
    this.publish({
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties,
      expiresAt,
      origin: clientId,
    });
  }

  /**
   * Sends `item` to the session's client now, or queues it: while offline (QoS 1/2, and QoS 0 with
   * `queue_qos0_messages`), or while the client's in-flight window is full [MQTT-4.9.0-2].
   */
  deliver(
    session: Session,
    item: QueuedMessage,
    cache?: (Uint8Array | undefined)[],
    now = Date.now(),
  ): void {
    const connection = session.connection;
    if (!connection || connection.state !== "connected") {
      if (item.qos > 0 || this.options.queueQos0Messages) this.#enqueue(session, item);
      return;
    }
    if (item.qos === 0) {
      if (connection.outgoingBytes > this.options.maxOutgoingBytes) {
        // A slow reader must not stall anyone else: its QoS 0 messages go, counted.
        connection.droppedQos0++;
        this.metrics.dropped[Drop.SlowReader]!++;
        return;
      }
      this.#sendPublish(connection, item, 0, false, cache, now);
      return;
    }
    if (session.queue.length > 0 || session.inflight.size >= this.#inflightLimit(connection)) {
      this.#enqueue(session, item);
      return;
    }
    this.#sendInflight(session, connection, item, cache, now);
  }

  /** Moves queued messages into free in-flight slots, dropping expired ones. */
  drainQueue(session: Session): void {
    const connection = session.connection;
    if (!connection || connection.state !== "connected") return;
    const limit = this.#inflightLimit(connection);
    const now = Date.now();
    const queue = session.queue;
    for (let item = queue.peek(); item !== undefined; item = queue.peek()) {
      if (item.qos > 0 && session.inflight.size >= limit) break;
      queue.shift();
      session.queuedBytes -= item.message.payload.length;
      const persisted = item.seq !== undefined && this.persists(session);
      if (isExpired(item.message, now) || item.qos === 0) {
        if (persisted) this.store!.deleteDelivery(session.clientId, item.seq!);
        if (item.qos === 0 && !isExpired(item.message, now)) {
          this.#sendPublish(connection, item, 0, false, undefined, now);
        } else {
          this.metrics.dropped[Drop.Expired]!++;
        }
        continue;
      }
      // Same seq: the queued row becomes the in-flight row, so order survives a restart.
      this.#sendInflight(session, connection, item, undefined, now);
    }
  }

  /**
   * Resends what was in flight when the client went away: PUBLISH with DUP set, or PUBREL
   * [MQTT-4.4.0-1], in the original order, then what was queued.
   */
  resumeSession(session: Session): void {
    const connection = session.connection;
    if (!connection) return;
    const now = Date.now();
    for (const item of session.inflight.values()) {
      if (item.state === "pubrel") {
        connection.send({
          type: "pubrel",
          packetId: item.packetId,
          ...(connection.version === 5 ? { reasonCode: 0 } : {}),
        });
      } else {
        this.#sendPublish(connection, item, item.packetId, true, undefined, now);
      }
    }
    this.drainQueue(session);
  }

  /** Removes a session and its subscriptions; publishes a will that was waiting for its delay. */
  endSession(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    this.sessions.delete(session.clientId);
    this.store?.deleteSession(session.clientId);
    for (const sub of session.subscriptions.values()) {
      this.subscriptions.remove(session.clientId, sub.filter, sub.group);
    }
    session.subscriptions.clear();
    const pending = session.pendingWill;
    session.pendingWill = undefined;
    // [MQTT-3.1.3-9]: a delayed will goes out when the session ends, if that is sooner.
    if (pending) this.publishWill(session.clientId, pending.will);
  }

  /** Called by a connection once its transport has closed. */
  connectionClosed(connection: Connection): void {
    if (this.connections.delete(connection)) connection.listener.connectionCount--;
    const session = connection.session;
    if (!session || session.connection !== connection) return;
    session.connection = undefined;
    this.clientsConnected--;
    const now = Date.now();
    session.disconnectedAt = now;
    if (this.options.connectionMessages && connection.publishWillOnClose && connection.will) {
      this.log.info(`Client ${connection.clientId} disconnected, publishing its will.`);
    }
    const will = connection.publishWillOnClose ? connection.will : undefined;
    if (will) {
      const delay = will.properties?.willDelayInterval ?? 0;
      if (delay > 0 && session.expiryInterval > 0) {
        session.pendingWill = {
          will,
          publishAt: now + Math.min(delay, session.expiryInterval) * 1000,
        };
        if (this.persists(session)) {
          this.store!.putWill(session.clientId, will, session.pendingWill.publishAt);
        }
      } else {
        this.publishWill(connection.clientId, will);
      }
    }
    if (session.expiryInterval === 0) this.endSession(session);
    else this.persistSession(session);
  }

  #inflightLimit(connection: Connection): number {
    const max = this.options.maxInflightMessages;
    const client = connection.clientReceiveMaximum;
    return max > 0 && max < client ? max : client;
  }

  #enqueue(session: Session, item: QueuedMessage): void {
    const { maxQueuedMessages, maxQueuedBytes } = this.options;
    if (
      maxQueuedMessages > 0 && session.queue.length >= maxQueuedMessages ||
      maxQueuedBytes > 0 && session.queuedBytes + item.message.payload.length > maxQueuedBytes
    ) {
      session.droppedMessages++;
      this.metrics.dropped[Drop.QueueFull]!++;
      return;
    }
    const queued = {
      ...item,
      message: compactMessage(item.message),
      seq: item.seq ?? session.nextSeq++,
    };
    session.queue.push(queued);
    session.queuedBytes += item.message.payload.length;
    if (this.persists(session)) {
      this.store!.putDelivery({
        clientId: session.clientId,
        seq: queued.seq,
        packetId: 0,
        state: "queued",
        qos: queued.qos,
        retain: queued.retain,
        identifiers: [...queued.identifiers],
        message: queued.message,
      });
    }
  }

  /** True when `session`'s state goes to the store: a store is set and the session outlives its connection. */
  persists(session: Session): boolean {
    return this.store !== undefined && session.expiryInterval > 0;
  }

  /**
   * Loads what the store holds (at start-up, before listening): sessions with their
   * subscriptions, queued and in-flight messages, QoS 2 ids and delayed wills, and retained
   * messages. Returns the counts for the start-up log line.
   */
  restore(): { sessions: number; retained: number; queued: number } {
    const store = this.store;
    if (!store) return { sessions: 0, retained: 0, queued: 0 };
    const snapshot = store.load();
    const now = Date.now();
    for (const stored of snapshot.sessions) {
      const session = new Session(stored.clientId, stored.protocolVersion, stored.expiryInterval);
      session.identity = { clientId: stored.clientId, username: stored.username, peer: "" };
      // A session that was connected when the broker stopped went offline then.
      session.disconnectedAt = stored.disconnectedAt || now;
      this.sessions.set(session.clientId, session);
    }
    for (const { clientId, subscription } of snapshot.subscriptions) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      const key = subscription.group === undefined
        ? subscription.filter
        : `$share/${subscription.group}/${subscription.filter}`;
      session.subscriptions.set(key, subscription);
      this.subscriptions.add({
        clientId,
        filter: subscription.filter,
        qos: subscription.qos,
        noLocal: subscription.noLocal,
        retainAsPublished: subscription.retainAsPublished,
        identifier: subscription.identifier,
      }, subscription.group);
    }
    for (const message of snapshot.retained) {
      if (!isExpired(message, now)) this.retained.set(message);
    }
    let queued = 0;
    for (const delivery of snapshot.deliveries) {
      const session = this.sessions.get(delivery.clientId);
      if (!session) continue;
      const item = {
        message: delivery.message,
        qos: delivery.qos,
        retain: delivery.retain,
        identifiers: delivery.identifiers,
        seq: delivery.seq,
      };
      if (delivery.seq >= session.nextSeq) session.nextSeq = delivery.seq + 1;
      if (delivery.state === "queued") {
        session.queue.push(item);
        session.queuedBytes += item.message.payload.length;
      } else {
        session.inflight.set(delivery.packetId, {
          ...item,
          packetId: delivery.packetId,
          state: delivery.state,
        });
      }
      queued++;
    }
    for (const { clientId, packetId } of snapshot.incomingQos2) {
      this.sessions.get(clientId)?.incomingQos2.add(packetId);
    }
    for (const { clientId, will, publishAt } of snapshot.wills) {
      const session = this.sessions.get(clientId);
      if (session) session.pendingWill = { will, publishAt };
    }
    return { sessions: snapshot.sessions.length, retained: this.retained.size, queued };
  }

  /** Records a session (metadata only) in the store, when it is one that persists. */
  persistSession(session: Session): void {
    if (!this.persists(session)) return;
    this.store!.putSession({
      clientId: session.clientId,
      protocolVersion: session.protocolVersion,
      expiryInterval: session.expiryInterval,
      disconnectedAt: session.disconnectedAt,
      username: session.identity.username,
    });
  }

  /** Records an in-flight delivery's state change (PUBREL sent) or its end. */
  persistInflight(session: Session, item: InflightMessage, done: boolean): void {
    if (!this.persists(session) || item.seq === undefined) return;
    if (done) {
      this.store!.deleteDelivery(session.clientId, item.seq);
      return;
    }
    this.store!.putDelivery({
      clientId: session.clientId,
      seq: item.seq,
      packetId: item.packetId,
      state: item.state,
      qos: item.qos,
      retain: item.retain,
      identifiers: [...item.identifiers],
      message: item.message,
    });
  }

  #sendInflight(
    session: Session,
    connection: Connection,
    item: QueuedMessage,
    cache: (Uint8Array | undefined)[] | undefined,
    now: number,
  ): void {
    const packetId = session.allocatePacketId();
    if (packetId === undefined) {
      this.#enqueue(session, item);
      return;
    }
    const persists = this.persists(session);
    // Not compacted: an in-flight message lives for one round trip (the queue and the retained
    // store, which keep messages for long, compact them).
    const inflight: InflightMessage = {
      ...item,
      packetId,
      state: "publish",
      seq: item.seq ?? (persists ? session.nextSeq++ : undefined),
    };
    session.inflight.set(packetId, inflight);
    if (!this.#sendPublish(connection, item, packetId, false, cache, now)) {
      // Too large for the client: treated as delivered [MQTT-3.1.2-25].
      session.inflight.delete(packetId);
      this.persistInflight(session, inflight, true);
      return;
    }
    if (persists) this.persistInflight(session, inflight, false);
  }

  /**
   * Encodes and queues a PUBLISH. Bytes are shared between subscribers that would get the same
   * bytes (same protocol version, QoS, RETAIN, no per-client properties) via `cache`; QoS 1/2
   * copies get their own packet id patched in. Returns false when the packet exceeds the client's
   * Maximum Packet Size and was dropped.
   */
  #sendPublish(
    connection: Connection,
    item: QueuedMessage,
    packetId: number,
    dup: boolean,
    cache: (Uint8Array | undefined)[] | undefined,
    now: number,
  ): boolean {
    const { message, qos, retain, identifiers } = item;
    const version = connection.version;
    let alias = 0;
    let aliasIsNew = false;
    if (version === 5 && connection.clientTopicAliasMaximum > 0) {
      alias = connection.outboundAliases.get(message.topic) ?? 0;
      if (alias === 0 && connection.outboundAliases.size < connection.clientTopicAliasMaximum) {
        alias = connection.outboundAliases.size + 1;
        aliasIsNew = true;
      }
    }
    const shareable = cache !== undefined && alias === 0 && identifiers.length === 0;
    const slot = ((version - 3) * 3 + qos) * 2 + (retain ? 1 : 0);
    let bytes = shareable ? cache[slot] : undefined;
    if (bytes === undefined) {
      bytes = encodePublish(
        this.#publishPacket(message, version, qos, retain, identifiers, alias, aliasIsNew, now),
        version,
      );
      if (shareable) cache[slot] = bytes;
    }
    if (bytes.length > connection.clientMaximumPacketSize) {
      this.metrics.dropped[Drop.TooLarge]!++;
      return false;
    }
    if (qos > 0) {
      if (shareable) bytes = bytes.slice();
      setPublishPacketId(bytes, packetId);
      if (dup) setPublishDup(bytes, true);
    }
    if (aliasIsNew) connection.outboundAliases.set(message.topic, alias);
    connection.metrics.publishSent[qos]!++;
    if (this.options.verbose) {
      this.log.debug(
        `Sending PUBLISH to ${connection.clientId} (d${dup ? 1 : 0}, q${qos}, r${
          retain ? 1 : 0
        }, m${packetId}, '${message.topic}', ... (${message.payload.length} bytes))`,
      );
    }
    connection.sendBytes(bytes);
    return true;
  }

  #publishPacket(
    message: Message,
    version: number,
    qos: QoS,
    retain: boolean,
    identifiers: readonly number[],
    alias: number,
    aliasIsNew: boolean,
    now: number,
  ): PublishPacket {
    const packet: PublishPacket = {
      type: "publish",
      // With an alias already known to the client the topic goes empty [MQTT-3.3.2-8].
      topic: alias !== 0 && !aliasIsNew ? "" : message.topic,
      payload: message.payload,
      qos,
      retain,
      dup: false,
    };
    if (qos > 0) packet.packetId = 1;
    if (version === 5) {
      const expiry = remainingExpiry(message, now);
      if (
        message.properties !== undefined || expiry !== undefined || identifiers.length > 0 ||
        alias !== 0
      ) {
        const properties: Properties = { ...message.properties };
        if (expiry !== undefined) properties.messageExpiryInterval = expiry;
        if (identifiers.length > 0) properties.subscriptionIdentifiers = [...identifiers];
        if (alias !== 0) properties.topicAlias = alias;
        packet.properties = properties;
      }
    }
    return packet;
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#closing) return;
    this.sys.restart();
    this.#timer = setInterval(() => this.#tick(), 1000);
    // Under @types/node (pulled in by npm packages) setInterval is typed as returning an object.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Once a second: keepalive, connect and stuck-client timeouts, will delays, session expiry. */
  #tick(): void {
    const now = Date.now();
    this.metrics.sampleEventLoop(now);
    const { connectTimeout, stuckClientTimeout, maxOutgoingBytes } = this.options;
    for (const connection of this.connections) {
      if (connection.state === "new") {
        if (now - connection.createdAt > connectTimeout * 1000) connection.destroy();
        continue;
      }
      if (connection.state !== "connected") continue;
      // [MQTT-3.1.2-24]: one and a half times the keep alive without a packet ends the client.
      if (connection.keepalive > 0 && now - connection.lastActivity > connection.keepalive * 1500) {
        this.log.info(`Client ${connection.clientId} has exceeded timeout, disconnecting.`);
        connection.disconnect(ReasonCode.KeepAliveTimeout, "Keep alive timeout");
        continue;
      }
      if (connection.outgoingBytes > maxOutgoingBytes) {
        if (connection.overBoundSince === 0) connection.overBoundSince = now;
        else if (now - connection.overBoundSince > stuckClientTimeout * 1000) {
          this.log.info(`Client ${connection.clientId} is not reading, disconnecting.`);
          connection.disconnectReason = DisconnectReason.SlowReader;
          connection.destroy();
        }
      } else {
        connection.overBoundSince = 0;
      }
    }
    for (const session of this.sessions.values()) {
      if (session.connection) continue;
      if (session.pendingWill && session.pendingWill.publishAt <= now) {
        const { will } = session.pendingWill;
        session.pendingWill = undefined;
        this.store?.deleteWill(session.clientId);
        this.publishWill(session.clientId, will);
      }
      // `persistent_client_expiration` caps every session's expiry, as Mosquitto's
      // session_expiry.c does; it is what ends 3.1.1 sessions, which never expire by themselves.
      const cap = this.options.persistentClientExpiration;
      const expiresAt = cap > 0
        ? Math.min(session.expiresAt(), session.disconnectedAt + cap * 1000)
        : session.expiresAt();
      if (expiresAt <= now) {
        this.metrics.sessionsExpired++;
        this.endSession(session);
      }
    }
  }
}
