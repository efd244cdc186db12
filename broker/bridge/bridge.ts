/**
 * One bridge (a `connection` section): a client of the remote broker and an internal client of
 * this one, passing messages between them as Mosquitto's bridge does, without its weak spots.
 *
 * The local side is a real MQTT 5 client of this broker over an in-memory pipe, with its own
 * session (`local_clientid`). A message going out is acknowledged to this broker only once the
 * remote broker has acknowledged its copy; until then it stays in the session's in-flight window,
 * and what does not fit queues in the session (bounded by `max_queued_messages` /
 * `max_queued_bytes`). With persistence on and `local_cleansession false`, that is on disk: an
 * uplink outage, a kill -9 or a reload loses nothing acknowledged. A message coming in is
 * published through the same client, so local ACLs apply to it, and acknowledged to the remote
 * broker once this broker has it.
 *
 * Loops: the local subscriptions have No Local, so what came in is never sent back out; on the
 * remote side MQTT 5 subscriptions have No Local too, and MQTT 3.x remotes are told that we are a
 * bridge (`try_private`); if they refuse, copies of our own messages coming back are recognised
 * and dropped.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import {
  type ClientStream,
  MqttClient,
  type PublishOptions,
  type ReceivedMessage,
} from "../../client/client.ts";
import { ConnectionRefusedError, MqttConnectionError } from "../../client/errors.ts";
import type { Properties, QoS } from "../../codec/types.ts";
import type { ClientIdentity, SecurityPolicy } from "../auth/security.ts";
import type { Broker } from "../broker.ts";
import type { BrokerListener } from "../broker_listener.ts";
import type { BridgeAddress, BridgeConfig } from "../config/types.ts";
import { SESSION_NEVER_EXPIRES } from "../session.ts";
import { createMemoryPipe } from "./memory_pipe.ts";
import { isSubscribedRemotely, routeIn, routeOut } from "./topics.ts";

/** Connection state of a bridge, for `$SYS` and tests. */
export type BridgeState = "stopped" | "idle" | "connecting" | "connected" | "waiting";

/** How often a bridge on a secondary address checks whether the main one is back (Mosquitto: 5 s). */
const PRIMARY_RETRY_MS = 5000;
/** How long a copy of a message sent out is remembered to recognise it if it comes back. */
const ECHO_WINDOW_MS = 30_000;
/** At most this many such copies are remembered. */
const ECHO_LIMIT = 10_000;
/** A remote that neither accepts nor refuses within this long counts as down. */
const CONNECT_TIMEOUT_MS = 15_000;

/** A message received from this broker on its way to the remote broker. */
interface Forward {
  /** The local connection it came on: only that one can acknowledge it. */
  readonly local: MqttClient;
  readonly message: ReceivedMessage;
  readonly topic: string;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Properties | undefined;
  /** Remote connection it was last sent on (0: not sent on the current one). */
  sentOn: number;
  /** Its packet identifier on the remote session, once sent. */
  packetId: number | undefined;
  /** QoS 2: the remote's PUBREC accepted it; what remains is PUBREL / PUBCOMP. */
  received: boolean;
}

/** Reads a bridge's TLS files at each connection attempt, so a renewed certificate is picked up. */
async function tlsOptions(
  config: NonNullable<BridgeConfig["tls"]>,
): Promise<{ caCerts: string[]; cert?: string; key?: string }> {
  const caCerts: string[] = [];
  if (config.cafile !== undefined) caCerts.push(await Deno.readTextFile(config.cafile));
  if (config.capath !== undefined) {
    for await (const entry of Deno.readDir(config.capath)) {
      if (entry.isDirectory || !/\.(crt|pem)$/.test(entry.name)) continue;
      caCerts.push(await Deno.readTextFile(`${config.capath}/${entry.name}`));
    }
  }
  if (config.certfile === undefined || config.keyfile === undefined) return { caCerts };
  return {
    caCerts,
    cert: await Deno.readTextFile(config.certfile),
    key: await Deno.readTextFile(config.keyfile),
  };
}

/** A failure of the TLS handshake, told apart from network errors in log lines. */
class TlsHandshakeError extends Error {
  constructor(cause: unknown) {
    super(`TLS handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "TlsHandshakeError";
  }
}

/**
 * The security of the bridge's internal connection: it is part of the broker, so it is not
 * authenticated, but what it publishes, subscribes to and receives is checked by the broker's
 * ACLs under `local_username`.
 */
class BridgeSecurity implements SecurityPolicy {
  readonly #base: () => SecurityPolicy;

  constructor(base: () => SecurityPolicy) {
    this.#base = base;
  }

  get restrictsRead(): boolean {
    return this.#base().restrictsRead;
  }

  authenticate(): number {
    return 0;
  }

  canWrite(identity: ClientIdentity, topic: string): boolean {
    return this.#base().canWrite(identity, topic);
  }

  canRead(identity: ClientIdentity, topic: string): boolean {
    return this.#base().canRead(identity, topic);
  }

  canSubscribe(identity: ClientIdentity, filter: string): boolean {
    return this.#base().canSubscribe(identity, filter);
  }
}

/** FNV-1a of a message, to recognise our own messages coming back from a remote. */
function fingerprint(topic: string, payload: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < payload.length; i++) {
    hash ^= payload[i] as number;
    hash = Math.imul(hash, 0x01000193);
  }
  return `${topic}\u0000${payload.length}\u0000${hash >>> 0}`;
}

/** Properties that go from one hop to the next: not the per-connection or per-subscription ones. */
function forwardedProperties(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const { topicAlias: _alias, subscriptionIdentifiers: _ids, ...rest } = properties;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/**
 * Seconds before the next connection attempt (`restart_timeout`): the constant, or Mosquitto's
 * "decorrelated jitter" backoff: a whole number of seconds drawn between the base and three times
 * the previous delay, at most the cap. `random` is in [0, 1).
 *
 * @example
 * ```ts
 * import { restartDelay } from "./bridge.ts";
 * restartDelay({ base: 20 }, 20); // 20
 * restartDelay({ base: 5, cap: 30 }, 5, () => 0.99); // 14
 * restartDelay({ base: 5, cap: 30 }, 20, () => 0.99); // 30
 * ```
 */
export function restartDelay(
  timeout: BridgeConfig["restartTimeout"],
  previous: number,
  random: () => number = Math.random,
): number {
  const { base, cap } = timeout;
  if (cap === undefined) return base;
  const high = Math.max(base + 1, previous * 3);
  return Math.min(cap, base + Math.floor(random() * (high - base)));
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\)/, "").replace(/\.$/, "");
}

/**
 * A running bridge. {@linkcode start} connects the local side and, for `start_type automatic`
 * and `once`, the remote side; {@linkcode stop} ends both.
 */
export class Bridge {
  /** The configuration it runs with (replaced only by a restart). */
  readonly config: BridgeConfig;
  readonly #broker: Broker;
  readonly #log: Logger;
  readonly #listener: BrokerListener;
  #stopped = true;
  #state: BridgeState = "stopped";

  #local: MqttClient | undefined;
  /** Set when the local subscriptions have been made but their retained messages not yet sent on. */
  #retainedQueued = false;

  #remote: MqttClient | undefined;
  /** Increases with every remote connection. */
  #generation = 0;
  #addressIndex = 0;
  #address: BridgeAddress;
  /** Seconds of the last backoff step (decorrelated jitter). */
  #backoff: number;
  #tryPrivate: boolean;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #localTimer: ReturnType<typeof setTimeout> | undefined;
  #primaryTimer: ReturnType<typeof setInterval> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #lastTraffic = 0;
  #droppedSeen = 0;

  /** Messages from this broker not yet acknowledged to it, in the order received. */
  #outgoing: Forward[] = [];
  /** QoS 0 messages dropped while the uplink was down. */
  #droppedQos0 = 0;
  /** Fingerprints of messages sent out that a remote without `try_private` may echo back. */
  readonly #echoes = new Map<string, number[]>();
  #echoCount = 0;
  #stateTopicValue: string | undefined;
  /** Local topics on which this broker refused a message from the remote, warned about once. */
  readonly #refusedTopics = new Set<string>();

  /** Prepares a bridge; nothing connects before {@linkcode start}. */
  constructor(broker: Broker, config: BridgeConfig) {
    this.#broker = broker;
    this.#log = broker.log;
    this.config = config;
    this.#address = config.addresses[0] as BridgeAddress;
    this.#backoff = config.restartTimeout.base;
    this.#tryPrivate = config.tryPrivate && config.protocolVersion !== 5;
    const security = new BridgeSecurity(() => broker.internalClientSecurity);
    this.#listener = broker.internalListener({
      allowAnonymous: true,
      topicAliasMaximum: 0,
      maxConnections: -1,
      security,
    });
  }

  /** The bridge's name (`connection NAME`). */
  get name(): string {
    return this.config.name;
  }

  /** Where the remote connection is. */
  get state(): BridgeState {
    return this.#state;
  }

  /** True while connected to the remote broker. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /** Messages received from this broker and not yet acknowledged by the remote broker. */
  get inFlight(): number {
    return this.#outgoing.length;
  }

  /**
   * Messages dropped because the bridge's queue was full (`max_queued_messages` /
   * `max_queued_bytes`), or QoS 0 messages that arrived while the uplink was down.
   */
  get droppedMessages(): number {
    const session = this.#broker.sessions.get(this.config.localClientId);
    return (session?.droppedMessages ?? 0) + this.#droppedQos0;
  }

  /** Connects the local side, then (unless `start_type lazy`) the remote side. */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#state = "idle";
    this.#publishState(false);
    this.#tick = setInterval(() => this.#onTick(), 1000);
    await this.#connectLocal();
    if (this.config.startType !== "lazy") this.#connectRemote();
  }

  /**
   * Disconnects both sides. The local session stays (messages not yet passed on wait there for a
   * restart) unless `endSession`, for a bridge removed from the configuration.
   */
  async stop(endSession = false): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#localTimer);
    clearInterval(this.#primaryTimer);
    clearInterval(this.#tick);
    this.#retryTimer =
      this.#localTimer =
      this.#primaryTimer =
      this.#tick =
        undefined;
    const remote = this.#remote;
    this.#remote = undefined;
    this.#generation++;
    if (remote?.connected) await this.#closeRemote(remote);
    else remote?.close(); // A connection attempt under way ends here.
    this.#publishState(false);
    this.#state = "stopped";
    const local = this.#local;
    this.#local = undefined;
    this.#outgoing = [];
    if (local !== undefined) await local.disconnect();
    if (endSession) {
      const session = this.#broker.sessions.get(this.config.localClientId);
      if (session !== undefined && session.connection === undefined) {
        this.#broker.endSession(session);
      }
    }
  }

  // --- the local side ---------------------------------------------------------------------------

  async #connectLocal(): Promise<void> {
    const config = this.config;
    const client = new MqttClient({
      protocolVersion: 5,
      clientId: config.localClientId,
      clean: config.localCleanSession,
      keepalive: 0,
      manualAck: true,
      properties: {
        sessionExpiryInterval: config.localCleanSession ? 0 : SESSION_NEVER_EXPIRES,
      },
      ...(config.localUsername !== undefined ? { username: config.localUsername } : {}),
      ...(config.localPassword !== undefined ? { password: config.localPassword } : {}),
      dial: () => {
        const { transport, stream } = createMemoryPipe("internal", 0);
        this.#broker.handleTransport(transport, this.#listener);
        return Promise.resolve(stream as ClientStream);
      },
    });
    // Before CONNECT: a resumed session sends its in-flight and queued messages right after CONNACK.
    client.onMessage((message) => this.#fromLocal(client, message));
    try {
      await client.connect();
    } catch (error) {
      if (this.#stopped) return;
      this.#log.error(
        `Error: Bridge ${this.name} cannot connect to this broker as ${config.localClientId}: ${
          describe(error)
        }. Retrying in 5 s.`,
      );
      this.#retryLocal();
      return;
    }
    if (this.#stopped) {
      await client.disconnect();
      return;
    }
    this.#local = client;
    client.closed.then((error) => {
      if (this.#stopped || this.#local !== client) return;
      this.#local = undefined;
      // What it had received is sent again by this broker to the next local connection.
      this.#outgoing = this.#outgoing.filter((forward) => forward.sentOn !== 0);
      this.#log.warn(
        `Warning: Bridge ${this.name} lost its connection to this broker${
          error ? `: ${describe(error)}` : ""
        }. Reconnecting in 5 s.`,
      );
      this.#retryLocal();
    });
    // A failure here means the connection went; its close handler takes over.
    await this.#subscribeLocal(client).catch(() => {});
  }

  #retryLocal(): void {
    this.#localTimer = setTimeout(() => {
      this.#localTimer = undefined;
      if (!this.#stopped) this.#connectLocal();
    }, 5000);
  }

  /**
   * Subscribes to the `out`/`both` topics with No Local (what came in never goes back out) and
   * Retain As Published, as Mosquitto's bridge does, and drops subscriptions a persistent session
   * kept from an earlier configuration.
   */
  async #subscribeLocal(client: MqttClient): Promise<void> {
    const wanted = this.config.topics.filter((line) => line.direction !== "in");
    const filters = new Set(wanted.map((line) => line.localTopic));
    const session = this.#broker.sessions.get(this.config.localClientId);
    const stale = [...session?.subscriptions.keys() ?? []].filter((filter) => !filters.has(filter));
    if (stale.length > 0) await client.unsubscribe(stale);
    if (wanted.length === 0) return;
    const suback = await client.subscribe(
      wanted.map((line) => ({
        topicFilter: line.localTopic,
        qos: line.qos,
        noLocal: true,
        retainAsPublished: true,
        retainHandling: 0 as const,
      })),
    );
    // Retained messages the subscription brought wait for the remote, unless it is already there.
    this.#retainedQueued = !this.connected;
    suback.reasonCodes.forEach((code, index) => {
      if (code < 0x80) return;
      this.#log.warn(
        `Warning: Bridge ${this.name} may not subscribe to "${
          wanted[index]?.localTopic
        }" on this broker (reason code 0x${code.toString(16)}): nothing on it is sent out.`,
      );
    });
  }

  /** A message from this broker for an `out`/`both` topic. */
  #fromLocal(client: MqttClient, message: ReceivedMessage): void {
    const route = routeOut(this.config.topics, message.topic);
    if (route === undefined) {
      client.acknowledge(message);
      return;
    }
    let retain = message.retain && this.config.outgoingRetain;
    let qos = message.qos;
    const remote = this.#remote;
    if (remote?.connected) {
      if (!remote.retainAvailable) retain = false;
      if (qos > remote.maximumQoS) qos = remote.maximumQoS;
    }
    if (qos === 0 && !remote?.connected) {
      // Like an offline Mosquitto client: QoS 0 is not queued unless queue_qos0_messages says so.
      if (!this.#broker.options.queueQos0Messages) {
        this.#droppedQos0++;
        return;
      }
    }
    const forward: Forward = {
      local: client,
      message,
      topic: route.topic,
      qos,
      retain,
      properties: this.config.protocolVersion === 5
        ? forwardedProperties(message.properties)
        : undefined,
      sentOn: 0,
      packetId: undefined,
      received: false,
    };
    this.#outgoing.push(forward);
    if (this.config.startType === "lazy" && this.#state === "idle") this.#checkThreshold();
    if (remote?.connected) this.#send(remote, forward, false);
  }

  // --- the remote side --------------------------------------------------------------------------

  #connectRemote(): void {
    if (this.#stopped || this.#remote !== undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const config = this.config;
    const address = config.addresses[this.#addressIndex] as BridgeAddress;
    this.#address = address;
    const generation = ++this.#generation;
    const notify = config.notifications && !config.notificationsLocalOnly;
    const bridgeBit = this.#tryPrivate;
    const options = {
      protocolVersion: config.protocolVersion,
      clientId: config.remoteClientId,
      clean: config.cleanSession,
      keepalive: config.keepalive,
      manualAck: true,
      bridge: bridgeBit,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      dial: () => this.#dial(address),
      ...(config.maxPacketSize > 0 ? { maximumOutgoingPacketSize: config.maxPacketSize } : {}),
      ...(config.remoteUsername !== undefined ? { username: config.remoteUsername } : {}),
      ...(config.remotePassword !== undefined ? { password: config.remotePassword } : {}),
      ...(config.protocolVersion === 5 && !config.cleanSession
        ? { properties: { sessionExpiryInterval: SESSION_NEVER_EXPIRES } }
        : {}),
      ...(notify
        ? {
          will: {
            topic: config.notificationTopic,
            payload: new TextEncoder().encode("0"),
            qos: 1 as QoS,
            retain: true,
          },
        }
        : {}),
    };
    const remote = new MqttClient(options);
    this.#remote = remote;
    this.#state = "connecting";
    remote.onMessage((message) => this.#fromRemote(remote, message));
    this.#log.info(`Connecting bridge ${this.name} (${address.host}:${address.port})`);
    remote.connect().then(
      (connack) => this.#remoteUp(remote, generation, connack.sessionPresent),
      (error) => this.#remoteFailed(remote, generation, error, bridgeBit),
    );
  }

  async #dial(address: BridgeAddress): Promise<ClientStream> {
    const tls = this.config.tls;
    if (tls === undefined) {
      const conn = await Deno.connect({ hostname: address.host, port: address.port });
      conn.setNoDelay(true);
      return conn;
    }
    const material = await tlsOptions(tls);
    const conn = await Deno.connectTls({
      hostname: address.host,
      port: address.port,
      caCerts: material.caCerts,
      ...(tls.alpn !== undefined ? { alpnProtocols: [tls.alpn] } : {}),
      ...(tls.insecure ? { unsafelyDisableHostnameVerification: true } : {}),
      ...(material.cert !== undefined ? { cert: material.cert, key: material.key as string } : {}),
    });
    try {
      await conn.handshake();
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      throw new TlsHandshakeError(error);
    }
    return conn;
  }

  #remoteUp(remote: MqttClient, generation: number, sessionPresent: boolean): void {
    if (this.#stopped || generation !== this.#generation) {
      remote.close();
      return;
    }
    const config = this.config;
    const address = this.#address;
    this.#state = "connected";
    this.#lastTraffic = Date.now();
    this.#backoff = config.restartTimeout.base;
    this.#log.info(`Bridge ${this.name} connected to ${address.host}:${address.port}.`);
    remote.closed.then((error) => this.#remoteLost(remote, generation, error));
    if (!config.roundRobin && this.#addressIndex !== 0) this.#watchPrimary(generation);

    // What was in flight on the previous connection of a resumed session goes again with its
    // packet identifier [MQTT-4.4.0-1]: PUBLISH with DUP, or PUBREL once PUBREC had come. First,
    // so that these identifiers are taken before SUBSCRIBE or a new PUBLISH picks one.
    const resume = sessionPresent && !config.cleanSession;
    for (const forward of [...this.#outgoing]) {
      if (forward.packetId === undefined) continue;
      if (!resume) {
        if (forward.received) {
          // The remote had it (PUBREC) and has forgotten the session: it was delivered.
          this.#complete(forward);
        } else {
          forward.packetId = undefined;
        }
        continue;
      }
      if (forward.received) this.#release(remote, forward);
      else this.#send(remote, forward, true);
    }
    if (config.notifications) {
      if (!config.notificationsLocalOnly) {
        remote.publish(config.notificationTopic, "1", {
          qos: remote.maximumQoS > 0 ? 1 : 0,
          retain: remote.retainAvailable,
        }).catch(() => {});
      }
    }
    this.#publishState(true);

    // Subscriptions to `in`/`both` topics; `out` topics unsubscribed as Mosquitto does, in case
    // a persistent session kept them from an earlier direction.
    const v5 = config.protocolVersion === 5;
    for (const line of config.topics) {
      if (line.direction !== "out") {
        remote.subscribe([{
          topicFilter: line.remoteTopic,
          qos: line.qos,
          noLocal: v5,
          retainAsPublished: v5,
          retainHandling: 0,
        }]).then((suback) => {
          const code = suback.reasonCodes[0] ?? 0;
          if (code >= 0x80) {
            this.#log.warn(
              `Warning: Bridge ${this.name}: ${address.host}:${address.port} refused the subscription to "${line.remoteTopic}" (reason code 0x${
                code.toString(16)
              }).`,
            );
          }
        }, () => {});
      } else if (config.attemptUnsubscribe) {
        remote.unsubscribe([line.remoteTopic]).catch(() => {});
      }
    }

    for (const forward of this.#outgoing) {
      if (forward.sentOn !== generation && !forward.received) this.#send(remote, forward, false);
    }
    // Retained messages go to the remote at every connection, as Mosquitto's bridge sends them;
    // those queued by the first local subscription are already on their way.
    if (this.#retainedQueued) this.#retainedQueued = false;
    else if (this.#local !== undefined) this.#subscribeLocal(this.#local).catch(() => {});
  }

  /** Sends one message to the remote; on its acknowledgement, acknowledges it locally. */
  #send(remote: MqttClient, forward: Forward, again: boolean): void {
    const generation = this.#generation;
    forward.sentOn = generation;
    const options: PublishOptions = {
      qos: forward.qos,
      retain: forward.retain,
      onPacketId: (id) => forward.packetId = id,
      onReceived: () => forward.received = true,
    };
    if (forward.properties !== undefined) options.properties = forward.properties;
    if (again && forward.packetId !== undefined) {
      options.packetId = forward.packetId;
      options.dup = true;
    }
    if (this.#tracksEchoes() && isSubscribedRemotely(this.config.topics, forward.topic)) {
      this.#rememberEcho(forward.topic, forward.message.payload);
    }
    this.#lastTraffic = Date.now();
    remote.publish(forward.topic, forward.message.payload, options).then((result) => {
      if (result.reasonCode >= 0x80) {
        this.#log.warn(
          `Warning: Bridge ${this.name}: the remote broker refused a message on "${forward.topic}" (reason code 0x${
            result.reasonCode.toString(16)
          }); it is dropped.`,
        );
      }
      this.#complete(forward);
    }, (error) => {
      if (generation !== this.#generation || !remote.connected) {
        // The connection went: the message goes again on the next one.
        if (forward.sentOn === generation) forward.sentOn = 0;
        return;
      }
      if (again && /is in use/.test(describe(error))) {
        // The remote session's identifier is taken on this connection: send it as a new message.
        forward.packetId = undefined;
        this.#send(remote, forward, false);
        return;
      }
      // Refused before it left (e.g. larger than the remote's maximum packet size): it can never
      // go, so it is dropped rather than blocking the bridge.
      this.#log.warn(
        `Warning: Bridge ${this.name} dropped a message on "${forward.topic}": ${describe(error)}.`,
      );
      this.#complete(forward);
    });
  }

  #release(remote: MqttClient, forward: Forward): void {
    const generation = this.#generation;
    forward.sentOn = generation;
    try {
      remote.release(forward.packetId as number).then(() => this.#complete(forward), () => {
        if (forward.sentOn === generation) forward.sentOn = 0;
      });
    } catch {
      forward.sentOn = 0;
    }
  }

  /** The remote has the message: acknowledge it to this broker, which then forgets it. */
  #complete(forward: Forward): void {
    const index = this.#outgoing.indexOf(forward);
    if (index === -1) return;
    this.#outgoing.splice(index, 1);
    forward.local.acknowledge(forward.message);
  }

  /** A message from the remote broker: published here, then acknowledged there. */
  #fromRemote(remote: MqttClient, message: ReceivedMessage): void {
    this.#lastTraffic = Date.now();
    if (this.#tracksEchoes() && this.#isEcho(message.topic, message.payload)) {
      remote.acknowledge(message);
      return;
    }
    const local = this.#local;
    if (local === undefined || !local.connected) {
      // Not acknowledged: a persistent remote session sends it again after the reconnect.
      remote.close();
      return;
    }
    const topic = routeIn(this.config.topics, message.topic);
    const options: PublishOptions = { qos: message.qos, retain: message.retain };
    const properties = forwardedProperties(message.properties);
    if (properties !== undefined) options.properties = properties;
    local.publish(topic, message.payload, options).then(
      (result) => {
        if (result.reasonCode >= 0x80 && this.#refusedTopics.size < 100) {
          if (!this.#refusedTopics.has(topic)) {
            this.#refusedTopics.add(topic);
            this.#log.warn(
              `Warning: Bridge ${this.name}: this broker refused a message on "${topic}" (reason code 0x${
                result.reasonCode.toString(16)
              }, e.g. its ACL for ${
                this.config.localUsername ?? "anonymous clients"
              }); it is dropped.`,
            );
          }
        }
        remote.acknowledge(message);
      },
      () => {
        if (!this.#stopped) remote.close();
      },
    );
  }

  #remoteFailed(remote: MqttClient, generation: number, error: unknown, bridgeBit: boolean): void {
    if (this.#remote === remote) this.#remote = undefined;
    if (this.#stopped || generation !== this.#generation) return;
    const address = this.#address;
    const where = `${address.host}:${address.port}`;
    const refusedPrivate = bridgeBit &&
      (error instanceof ConnectionRefusedError && error.reasonCode === 1 ||
        error instanceof MqttConnectionError && /before CONNACK/.test(error.message));
    if (refusedPrivate) {
      // Mosquitto's try_private_accepted = false: this remote does not know the bridge bit.
      this.#tryPrivate = false;
      this.#log.warn(
        `Warning: Bridge ${this.name}: ${where} does not accept try_private; connecting as an ordinary client (copies of our own messages coming back are dropped).`,
      );
      this.#connectRemote();
      return;
    }
    let line: string;
    if (error instanceof ConnectionRefusedError) {
      const text = error.message.replace(/\.$/, "");
      line = `${
        text.startsWith("Connection Refused") ? text : `Connection Refused: ${text}`
      } (bridge ${this.name}, ${where})`;
    } else {
      line = `Error creating bridge ${this.name} (${where}): ${this.#describeDialError(error)}`;
    }
    this.#advanceAddress();
    this.#scheduleRetry(line);
  }

  #describeDialError(error: unknown): string {
    const cause = error instanceof MqttConnectionError && error.cause !== undefined
      ? error.cause
      : error;
    if (cause instanceof TlsHandshakeError) return cause.message;
    if (cause instanceof Deno.errors.ConnectionRefused) return "Connection refused";
    const message = describe(cause);
    if (
      /lookup address|Name or service not known|nodename nor servname|No address associated/i.test(
        message,
      )
    ) {
      return `Unable to resolve host "${this.#address.host}" (${message})`;
    }
    if (cause instanceof Deno.errors.NotFound || cause instanceof Deno.errors.PermissionDenied) {
      return `Cannot read TLS files: ${message}`;
    }
    return message;
  }

  #remoteLost(remote: MqttClient, generation: number, error: Error | undefined): void {
    if (this.#remote === remote) this.#remote = undefined;
    if (this.#stopped || generation !== this.#generation) return;
    clearInterval(this.#primaryTimer);
    this.#primaryTimer = undefined;
    for (const forward of this.#outgoing) {
      if (forward.sentOn === generation) forward.sentOn = 0;
    }
    this.#publishState(false);
    const address = this.#address;
    const reason = error === undefined ? "closed" : describe(error);
    this.#advanceAddress();
    this.#scheduleRetry(
      `Bridge ${this.name} disconnected from ${address.host}:${address.port}: ${reason}`,
    );
  }

  #advanceAddress(): void {
    this.#addressIndex = (this.#addressIndex + 1) % this.config.addresses.length;
  }

  /** Logs a failure with when the next attempt comes, per `restart_timeout` and `start_type`. */
  #scheduleRetry(line: string): void {
    const config = this.config;
    if (config.startType === "once") {
      this.#state = "stopped";
      this.#log.error(`${line}. Not retrying (start_type once).`);
      return;
    }
    if (config.startType === "lazy") {
      this.#state = "idle";
      this.#log.error(
        `${line}. Restarting once ${config.threshold} messages are waiting (start_type lazy).`,
      );
      return;
    }
    const seconds = this.#nextDelay();
    this.#state = "waiting";
    this.#log.error(`${line}. Retrying in ${seconds} s.`);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connectRemote();
    }, seconds * 1000);
  }

  #nextDelay(): number {
    this.#backoff = restartDelay(this.config.restartTimeout, this.#backoff);
    return this.#backoff;
  }

  /** With `round_robin false`, goes back to the first address as soon as it answers again. */
  #watchPrimary(generation: number): void {
    clearInterval(this.#primaryTimer);
    const primary = this.config.addresses[0] as BridgeAddress;
    let probing = false;
    this.#primaryTimer = setInterval(async () => {
      if (probing || generation !== this.#generation) return;
      probing = true;
      try {
        const probe = await Deno.connect({ hostname: primary.host, port: primary.port });
        probe.close();
      } catch {
        return;
      } finally {
        probing = false;
      }
      if (this.#stopped || generation !== this.#generation) return;
      clearInterval(this.#primaryTimer);
      this.#primaryTimer = undefined;
      this.#log.info(
        `Bridge ${this.name}: main address ${primary.host}:${primary.port} is back, switching to it.`,
      );
      const remote = this.#remote;
      this.#remote = undefined;
      this.#generation++;
      this.#addressIndex = 0;
      for (const forward of this.#outgoing) forward.sentOn = 0;
      if (remote !== undefined) await this.#closeRemote(remote);
      this.#connectRemote();
    }, PRIMARY_RETRY_MS);
  }

  /** Ends a remote connection in an orderly way: the state notification, then DISCONNECT. */
  async #closeRemote(remote: MqttClient): Promise<void> {
    const config = this.config;
    if (config.notifications && !config.notificationsLocalOnly && remote.connected) {
      // A clean DISCONNECT drops the will, so the "0" goes explicitly.
      try {
        await remote.publish(config.notificationTopic, "0", {
          qos: 0,
          retain: remote.retainAvailable,
        });
      } catch {
        // Gone already.
      }
    }
    await remote.disconnect();
  }

  // --- lazy start, idle timeout, dropped messages -------------------------------------------------

  #onTick(): void {
    if (this.#stopped) return;
    const config = this.config;
    if (config.startType === "lazy") {
      if (this.#state === "idle") this.#checkThreshold();
      else if (
        this.#state === "connected" && this.#outgoing.length === 0 &&
        Date.now() - this.#lastTraffic > config.idleTimeout * 1000
      ) {
        this.#log.info(`Bridge connection ${this.name} has exceeded idle timeout, disconnecting.`);
        const remote = this.#remote;
        this.#remote = undefined;
        this.#generation++;
        this.#state = "idle";
        this.#publishState(false);
        if (remote !== undefined) this.#closeRemote(remote).catch(() => {});
      }
    }
    const dropped = this.droppedMessages;
    if (dropped > this.#droppedSeen) {
      const { maxQueuedMessages, maxQueuedBytes } = this.#broker.options;
      this.#log.warn(
        `Warning: Bridge ${this.name} dropped ${
          dropped - this.#droppedSeen
        } messages (${dropped} in all): its queue is full (max_queued_messages ${maxQueuedMessages}, max_queued_bytes ${maxQueuedBytes}).`,
      );
      this.#droppedSeen = dropped;
    }
    this.#expireEchoes();
  }

  /** `start_type lazy`: connects once `threshold` messages wait to go out. */
  #checkThreshold(): void {
    const session = this.#broker.sessions.get(this.config.localClientId);
    const waiting = this.#outgoing.length + (session?.queue.length ?? 0);
    if (waiting >= this.config.threshold) this.#connectRemote();
  }

  // --- echoes from remotes without try_private ----------------------------------------------------

  #tracksEchoes(): boolean {
    return this.config.protocolVersion !== 5 && !this.#tryPrivate;
  }

  #rememberEcho(topic: string, payload: Uint8Array): void {
    if (this.#echoCount >= ECHO_LIMIT) return;
    const key = fingerprint(topic, payload);
    const times = this.#echoes.get(key);
    if (times === undefined) this.#echoes.set(key, [Date.now()]);
    else times.push(Date.now());
    this.#echoCount++;
  }

  #isEcho(topic: string, payload: Uint8Array): boolean {
    const key = fingerprint(topic, payload);
    const times = this.#echoes.get(key);
    if (times === undefined) return false;
    times.shift();
    this.#echoCount--;
    if (times.length === 0) this.#echoes.delete(key);
    return true;
  }

  #expireEchoes(): void {
    if (this.#echoCount === 0) return;
    const oldest = Date.now() - ECHO_WINDOW_MS;
    for (const [key, times] of this.#echoes) {
      while (times.length > 0 && (times[0] as number) < oldest) {
        times.shift();
        this.#echoCount--;
      }
      if (times.length === 0) this.#echoes.delete(key);
    }
  }

  // --- notifications ------------------------------------------------------------------------------

  /**
   * `$SYS/broker/connection/NAME/state` (retained 1 or 0) always, and with `notifications` the
   * notification topic (by default Mosquitto's `$SYS/broker/connection/REMOTE_CLIENTID/state`).
   */
  #publishState(up: boolean): void {
    const value = up ? "1" : "0";
    if (this.#stateTopicValue === value) return;
    this.#stateTopicValue = value;
    const topics = new Set([`$SYS/broker/connection/${this.name}/state`]);
    if (this.config.notifications) topics.add(this.config.notificationTopic);
    for (const topic of topics) {
      this.#broker.publish({
        topic,
        payload: new TextEncoder().encode(value),
        qos: 1,
        retain: true,
        properties: undefined,
        expiresAt: 0,
        // As if from the bridge: its own No Local subscriptions do not send it out again.
        origin: this.config.localClientId,
      });
    }
  }
}
