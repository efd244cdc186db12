/**
 * A small MQTT 3.1 / 3.1.1 / 5.0 client over TCP, built on midge's own codec so that the compiled
 * `midge` binary needs no client library. It backs `midge pub`, `midge sub` and
 * `midge healthcheck`.
 *
 * @module
 */

import { Framer } from "../codec/frame.ts";
import { decodePacket, encodePacket } from "../codec/packet.ts";
import { validateTopicFilter, validateTopicName } from "../codec/topic.ts";
import type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  Subscription,
  UnsubackPacket,
  Will,
} from "../codec/types.ts";
import { describePacket, type Direction } from "./debug.ts";
import { ConnectionRefusedError, MqttConnectionError, reasonString } from "./errors.ts";
import { MessageQueue } from "./message_queue.ts";

/**
 * A byte stream the client speaks MQTT over. `Deno.Conn` (TCP, TLS) fits; the broker's bridges
 * use an in-memory one to reach their own broker.
 */
export interface ClientStream {
  /** Reads into `buffer`; resolves with the number of bytes read, or null at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes` (the client never reuses a buffer it has written); resolves with how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the stream; a pending read then resolves with null or rejects. */
  close(): void;
}

/** Options of {@linkcode MqttClient}. */
export interface MqttClientOptions {
  /** Broker host name or address (default `localhost`). */
  hostname?: string;
  /** Broker TCP port (default 1883). */
  port?: number;
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 (default), 5 = MQTT 5.0. */
  protocolVersion?: ProtocolVersion;
  /**
   * Client identifier. Defaults to `""` for MQTT 5 (the broker assigns one) and to a random
   * `midge-…` identifier of at most 23 characters below MQTT 5 [MQTT-3.1.3-5].
   */
  clientId?: string;
  /** Clean Session / Clean Start (default true). */
  clean?: boolean;
  /** Keep Alive in seconds, 0 to turn it off (default 60). */
  keepalive?: number;
  username?: string;
  password?: string | Uint8Array;
  will?: Will;
  /** CONNECT properties (MQTT 5 only). */
  properties?: Properties;
  /** How long to wait for the TCP connection and the CONNACK, in ms (default 30000). */
  connectTimeoutMs?: number;
  /** Receives one line per packet in libmosquitto's `-d` wording, e.g. for `midge pub -d`. */
  debug?: (line: string) => void;
  /**
   * Opens the byte stream instead of a TCP connection to `hostname`:`port` (e.g. TLS with
   * `Deno.connectTls`, or an in-memory pipe). Its errors reject {@linkcode MqttClient.connect}
   * with an {@linkcode MqttConnectionError} whose `cause` is the original error.
   */
  dial?: () => Promise<ClientStream>;
  /**
   * Acknowledge incoming QoS 1/2 messages only when {@linkcode MqttClient.acknowledge} is called
   * (default false: PUBACK / PUBREC go out as messages arrive). A bridge acknowledges a message
   * once it has passed it on, so that nothing acknowledged can be lost.
   */
  manualAck?: boolean;
  /**
   * Announce the client as a bridge (Mosquitto's `try_private`): the CONNECT's protocol level
   * gets the 0x80 bit. Only for MQTT 3.1 / 3.1.1; a server that does not know it refuses with
   * "unacceptable protocol version".
   */
  bridge?: boolean;
  /**
   * Largest packet this client sends, in bytes, below any Maximum Packet Size the server sets
   * (Mosquitto's `bridge_max_packet_size`). A larger PUBLISH is refused by
   * {@linkcode MqttClient.publish} with an error, the connection staying open.
   */
  maximumOutgoingPacketSize?: number;
}

/**
 * A message delivered to the client: the PUBLISH as received, its topic alias already resolved
 * into `topic`.
 */
export type ReceivedMessage = Omit<PublishPacket, "type">;

/** Options of {@linkcode MqttClient.publish}. */
export interface PublishOptions {
  /** Default 0. */
  qos?: QoS;
  /** Default false. */
  retain?: boolean;
  /** PUBLISH properties (MQTT 5 only). */
  properties?: Properties;
  /**
   * Packet identifier to use for a QoS 1/2 message instead of a new one: to send again, with
   * `dup`, a message that was in flight when the previous connection of a resumed session ended
   * [MQTT-4.4.0-1]. It must not be in use on this connection.
   */
  packetId?: number;
  /** Set the DUP flag (a re-delivery, [MQTT-3.3.1-1]). */
  dup?: boolean;
  /** Called with the packet identifier once the PUBLISH is written (QoS 1/2). */
  onPacketId?: (packetId: number) => void;
  /** QoS 2: called when the PUBREC accepted the message, before PUBREL goes out. */
  onReceived?: () => void;
}

/** The outcome of a publish once its acknowledgement flow is complete. */
export interface PublishResult {
  /** Packet identifier used (QoS 1/2). */
  packetId?: number;
  /**
   * MQTT 5 reason code of the PUBACK or PUBREC (0 below MQTT 5 and for QoS 0). A code of 0x80 or
   * more means the broker did not accept the message; 0x10 means no subscriber matched.
   */
  reasonCode: number;
  properties?: Properties;
}

/** One topic filter to subscribe to, with its options; a bare string means QoS 0. */
export interface SubscribeRequest {
  topicFilter: string;
  /** Default 0. */
  qos?: QoS;
  /** MQTT 5 No Local. */
  noLocal?: boolean;
  /** MQTT 5 Retain As Published. */
  retainAsPublished?: boolean;
  /** MQTT 5 Retain Handling: 0 send retained, 1 only for new subscriptions, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

/** Options of {@linkcode MqttClient.disconnect}. */
export interface DisconnectOptions {
  /** MQTT 5 reason code (default 0, 4 asks the broker to publish the will). */
  reasonCode?: number;
  /** DISCONNECT properties (MQTT 5 only). */
  properties?: Properties;
}

type AwaitedAck = "puback" | "pubrec" | "pubcomp" | "suback" | "unsuback";

interface PendingRequest {
  awaiting: AwaitedAck;
  /** QoS 2 publish: called when its PUBREC accepted it. */
  onReceived?: () => void;
  resolve: (packet: AckPacket | SubackPacket | UnsubackPacket) => void;
  reject: (error: Error) => void;
}

type State = "idle" | "connecting" | "connected" | "closed";

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const READ_BUFFER_SIZE = 16 * 1024;
const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * A random client identifier `midge-` + 16 characters from [a-z0-9], short enough for MQTT 3.1's
 * 23-character limit [MQTT-3.1.3-5].
 *
 * @example
 * ```ts
 * import { randomClientId } from "./client.ts";
 * randomClientId().length; // 22
 * ```
 */
export function randomClientId(prefix = "midge-"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let id = prefix;
  for (const b of bytes) id += ID_CHARS[b % ID_CHARS.length];
  return id;
}

/**
 * An MQTT client over one TCP connection: connect, publish with the full QoS 1/2 flows,
 * subscribe, unsubscribe, receive messages by callback or async iteration, keep alive with
 * PINGREQ, and disconnect.
 *
 * @example
 * ```ts ignore
 * import { MqttClient } from "./client.ts";
 * await using client = new MqttClient({ hostname: "127.0.0.1", port: 1883, protocolVersion: 5 });
 * await client.connect();
 * const messages = client.messages();
 * await client.subscribe([{ topicFilter: "greeting", qos: 1 }]);
 * await client.publish("greeting", "hello", { qos: 2 });
 * for await (const message of messages) {
 *   console.log(message.topic, new TextDecoder().decode(message.payload));
 *   break;
 * }
 * ```
 */
export class MqttClient implements AsyncDisposable {
  readonly #options: MqttClientOptions;
  readonly #version: ProtocolVersion;
  #clientId: string;
  #state: State = "idle";
  #conn: ClientStream | undefined;
  readonly #framer = new Framer();
  #writeChain: Promise<void> = Promise.resolve();
  #lastSent = 0;

  #connackWaiter:
    | { resolve: (p: ConnackPacket) => void; reject: (e: Error) => void }
    | undefined;
  readonly #pending = new Map<number, PendingRequest>();
  #nextPacketId = 1;
  /** QoS 2 packet identifiers received and not yet released by PUBREL [MQTT-4.3.3-8]. */
  readonly #incomingQos2 = new Set<number>();
  /** With `manualAck`: QoS 1/2 packet identifiers delivered and not acknowledged yet. */
  readonly #unacknowledged = new Set<number>();
  /** Identifiers asked for by `publish({ packetId })` that are not registered yet. */
  readonly #reservedIds = new Set<number>();
  readonly #inboundAliases = new Map<number, string>();

  #inflight = 0;
  #inflightMaximum = 65535;
  #slotWaiters: (() => void)[] = [];
  #serverMaximumPacketSize: number;
  #maximumQoS: QoS = 2;
  #retainAvailable = true;

  #keepaliveMs = 0;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pingSentAt: number | undefined;

  readonly #listeners = new Set<(message: ReceivedMessage) => void>();
  readonly #queues = new Set<MessageQueue<ReceivedMessage>>();
  #serverDisconnect: DisconnectPacket | undefined;
  #closeError: Error | undefined;
  #finished = false;
  #resolveClosed!: (error: Error | undefined) => void;
  readonly #closed: Promise<Error | undefined>;

  constructor(options: MqttClientOptions = {}) {
    this.#options = options;
    this.#version = options.protocolVersion ?? 4;
    this.#clientId = options.clientId ?? (this.#version === 5 ? "" : randomClientId());
    this.#serverMaximumPacketSize = options.maximumOutgoingPacketSize || Infinity;
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** The client identifier, the broker-assigned one once a v5 CONNACK carried it. */
  get clientId(): string {
    return this.#clientId;
  }

  /** Protocol level this client speaks. */
  get protocolVersion(): ProtocolVersion {
    return this.#version;
  }

  /** Whether CONNECT was accepted and the connection is still open. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /**
   * Resolves when the connection has ended: with undefined after {@linkcode disconnect} or
   * {@linkcode close}, with the reason when it was lost or the broker closed it.
   */
  get closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  /** The DISCONNECT the broker sent (MQTT 5), if any. */
  get serverDisconnect(): DisconnectPacket | undefined {
    return this.#serverDisconnect;
  }

  /** The broker's Maximum QoS (MQTT 5 CONNACK; 2 otherwise). */
  get maximumQoS(): QoS {
    return this.#maximumQoS;
  }

  /** False when the broker said Retain Available 0 (MQTT 5 CONNACK). */
  get retainAvailable(): boolean {
    return this.#retainAvailable;
  }

  /**
   * Opens the TCP connection, sends CONNECT and waits for the CONNACK. Throws
   * {@linkcode MqttConnectionError} when the broker cannot be reached and
   * {@linkcode ConnectionRefusedError} when it refuses the connection.
   */
  async connect(): Promise<ConnackPacket> {
    if (this.#state !== "idle") {
      throw new Error("Cannot connect: a client connects only once; create a new MqttClient");
    }
    this.#state = "connecting";
    const options = this.#options;
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timer = setTimeout(
      () => this.#fail(new MqttConnectionError(`No CONNACK within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const connack = new Promise<ConnackPacket>((resolve, reject) => {
        this.#connackWaiter = { resolve, reject };
      });
      // A failure before the CONNACK is awaited must not count as unhandled.
      connack.catch(() => {});
      let conn: ClientStream;
      const dialing = options.dial !== undefined ? options.dial() : (async () => {
        const tcp = await Deno.connect({
          hostname: options.hostname ?? "localhost",
          port: options.port ?? 1883,
        });
        tcp.setNoDelay(true);
        return tcp;
      })();
      try {
        // The timeout covers opening the connection too (a TLS handshake that never ends).
        conn = await Promise.race([dialing, connack.then(() => dialing)]);
      } catch (error) {
        if (this.#finished) {
          dialing.then((late) => late.close(), () => {});
          throw this.#closeError ?? new MqttConnectionError("Connection closed");
        }
        const failure = new MqttConnectionError(networkMessage(error), { cause: error });
        this.#fail(failure);
        throw failure;
      }
      if (this.#finished) {
        conn.close();
        throw this.#closeError ?? new MqttConnectionError("Connection closed");
      }
      this.#conn = conn;
      this.#readLoop(conn);
      this.#send(this.#connectPacket());
      const packet = await connack;
      if (packet.reasonCode !== 0) {
        const refused = new ConnectionRefusedError(packet.reasonCode, this.#version);
        this.#fail(refused);
        throw refused;
      }
      return packet;
    } catch (error) {
      // E.g. a CONNECT the codec cannot encode: do not leave the socket open.
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      clearTimeout(timer);
      this.#connackWaiter = undefined;
    }
  }

  /**
   * Publishes a message and resolves once its flow is complete: at once for QoS 0 (after the
   * write), after PUBACK for QoS 1, after PUBCOMP for QoS 2 (or a PUBREC with a failure code).
   * QoS 1/2 publishes beyond the broker's Receive Maximum wait for a free slot [MQTT-4.9.0-2].
   */
  async publish(
    topic: string,
    payload: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    this.#assertConnected("publish");
    const qos = options.qos ?? 0;
    const retain = options.retain ?? false;
    const properties = this.#version === 5 ? options.properties : undefined;
    if (topic !== "" || properties?.topicAlias === undefined) validateTopicName(topic);
    if (qos > this.#maximumQoS) {
      throw new Error(
        `Cannot publish with QoS ${qos}: the broker's Maximum QoS is ${this.#maximumQoS}`,
      );
    }
    if (retain && !this.#retainAvailable) {
      throw new Error("Cannot publish a retained message: the broker has Retain Available 0");
    }
    const packet: PublishPacket = {
      type: "publish",
      topic,
      payload: typeof payload === "string" ? new TextEncoder().encode(payload) : payload,
      qos,
      retain,
      dup: options.dup ?? false,
    };
    if (properties !== undefined) packet.properties = properties;
    if (qos === 0) {
      await this.#send(packet);
      this.#assertOpen("publish");
      return { reasonCode: 0 };
    }
    const wanted = options.packetId;
    if (wanted !== undefined) {
      if (this.#pending.has(wanted) || this.#reservedIds.has(wanted)) {
        throw new Error(`Cannot publish with packet identifier ${wanted}: it is in use`);
      }
      // Reserved at once, so that no publish or subscribe started later takes it meanwhile.
      this.#reservedIds.add(wanted);
    }
    try {
      await this.#acquireSlot();
    } finally {
      if (wanted !== undefined) this.#reservedIds.delete(wanted);
    }
    try {
      this.#assertConnected("publish");
      const packetId = wanted ?? this.#allocatePacketId();
      packet.packetId = packetId;
      const bytes = this.#encode(packet);
      const acked = this.#await(packetId, qos === 1 ? "puback" : "pubrec");
      if (options.onReceived !== undefined) {
        const pending = this.#pending.get(packetId);
        if (pending !== undefined) pending.onReceived = options.onReceived;
      }
      this.#write(bytes, packet);
      options.onPacketId?.(packetId);
      const ack = await acked as AckPacket;
      const result: PublishResult = { packetId, reasonCode: ack.reasonCode ?? 0 };
      if (ack.properties !== undefined) result.properties = ack.properties;
      return result;
    } finally {
      this.#releaseSlot();
    }
  }

  /**
   * Subscribes to topic filters and resolves with the SUBACK: one granted QoS or failure code
   * (0x80 and above) per filter, in order.
   */
  async subscribe(
    requests: readonly (string | SubscribeRequest)[],
    properties?: Properties,
  ): Promise<SubackPacket> {
    this.#assertConnected("subscribe");
    if (requests.length === 0) {
      throw new Error("Cannot subscribe: at least one topic filter is needed [MQTT-3.8.3-3]");
    }
    const subscriptions: Subscription[] = requests.map((request) => {
      const r = typeof request === "string" ? { topicFilter: request } : request;
      validateTopicFilter(r.topicFilter);
      return {
        topicFilter: r.topicFilter,
        qos: r.qos ?? 0,
        noLocal: r.noLocal ?? false,
        retainAsPublished: r.retainAsPublished ?? false,
        retainHandling: r.retainHandling ?? 0,
      };
    });
    const packetId = this.#allocatePacketId();
    const packet: Packet = { type: "subscribe", packetId, subscriptions };
    if (this.#version === 5 && properties !== undefined) packet.properties = properties;
    const bytes = this.#encode(packet);
    const acked = this.#await(packetId, "suback");
    this.#write(bytes, packet);
    return await acked as SubackPacket;
  }

  /** Unsubscribes from topic filters and resolves with the UNSUBACK. */
  async unsubscribe(
    topicFilters: readonly string[],
    properties?: Properties,
  ): Promise<UnsubackPacket> {
    this.#assertConnected("unsubscribe");
    if (topicFilters.length === 0) {
      throw new Error("Cannot unsubscribe: at least one topic filter is needed [MQTT-3.10.3-2]");
    }
    for (const filter of topicFilters) validateTopicFilter(filter);
    const packetId = this.#allocatePacketId();
    const packet: Packet = { type: "unsubscribe", packetId, topicFilters: [...topicFilters] };
    if (this.#version === 5 && properties !== undefined) packet.properties = properties;
    const bytes = this.#encode(packet);
    const acked = this.#await(packetId, "unsuback");
    this.#write(bytes, packet);
    return await acked as UnsubackPacket;
  }

  /**
   * Sends PUBREL for a QoS 2 message whose PUBREC arrived on an earlier connection of a resumed
   * session [MQTT-4.4.0-1], and resolves with the PUBCOMP. The identifier stays in use until then.
   */
  release(packetId: number): Promise<AckPacket> {
    this.#assertConnected("release");
    if (this.#pending.has(packetId) || this.#reservedIds.has(packetId)) {
      throw new Error(`Cannot release packet identifier ${packetId}: it is in use`);
    }
    const done = this.#await(packetId, "pubcomp") as Promise<AckPacket>;
    this.#sendAck("pubrel", packetId);
    return done;
  }

  /**
   * With `manualAck`: acknowledges a QoS 1 (PUBACK) or QoS 2 (PUBREC) message delivered by this
   * client; `reasonCode` (MQTT 5) 0x80 or more refuses it. Does nothing for QoS 0, for a message
   * already acknowledged, or once the connection is gone (the broker then sends it again).
   */
  acknowledge(message: ReceivedMessage, reasonCode = 0): void {
    const packetId = message.packetId;
    if (packetId === undefined || !this.#unacknowledged.delete(packetId)) return;
    if (this.#state !== "connected") return;
    const ack: AckPacket = { type: message.qos === 1 ? "puback" : "pubrec", packetId };
    if (this.#version === 5) ack.reasonCode = reasonCode;
    if (message.qos === 2 && reasonCode >= 0x80) this.#incomingQos2.delete(packetId);
    this.#send(ack);
  }

  /**
   * Calls `listener` for every message received; returns a function that removes it. A listener
   * that throws closes the connection with its error.
   */
  onMessage(listener: (message: ReceivedMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * An async iterator over messages received from now on; create it before subscribing so that
   * retained messages are not missed. It ends when the connection closes (throwing the reason if
   * the connection was lost) or when the loop breaks.
   */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    const queue: MessageQueue<ReceivedMessage> = new MessageQueue(() => this.#queues.delete(queue));
    if (this.#state === "closed") queue.end(this.#closeError);
    else this.#queues.add(queue);
    return queue;
  }

  /**
   * Sends DISCONNECT and closes the connection. Publishes still awaiting acknowledgement are
   * rejected; await them first for a complete flow. Does nothing once closed.
   */
  async disconnect(options: DisconnectOptions = {}): Promise<void> {
    if (this.#state !== "connected") {
      this.close();
      return;
    }
    const packet: DisconnectPacket = { type: "disconnect" };
    if (this.#version === 5) {
      packet.reasonCode = options.reasonCode ?? 0;
      if (options.properties !== undefined) packet.properties = options.properties;
    }
    // No more packets may follow DISCONNECT [MQTT-3.14.4-1]; the state change stops them.
    this.#state = "closed";
    await this.#send(packet, true);
    this.#finish(undefined);
  }

  /** Closes the connection without DISCONNECT, so that the broker publishes the will. */
  close(): void {
    this.#finish(undefined);
  }

  /** Disconnects cleanly if connected, else closes. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.disconnect();
  }

  // --- connection -------------------------------------------------------------------------------

  #connectPacket(): ConnectPacket {
    const o = this.#options;
    const packet: ConnectPacket = {
      type: "connect",
      protocolName: this.#version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: this.#version,
      clean: o.clean ?? true,
      keepalive: o.keepalive ?? 60,
      clientId: this.#clientId,
    };
    if (o.username !== undefined) packet.username = o.username;
    if (o.password !== undefined) {
      packet.password = typeof o.password === "string"
        ? new TextEncoder().encode(o.password)
        : o.password;
    }
    if (o.will !== undefined) {
      const will = { ...o.will };
      if (this.#version !== 5) delete will.properties;
      packet.will = will;
    }
    if (this.#version === 5 && o.properties !== undefined) packet.properties = o.properties;
    if (o.bridge) packet.bridge = true;
    return packet;
  }

  /** Applies what an accepting CONNACK says about the broker (section 3.2.2.3). */
  #accept(connack: ConnackPacket): void {
    this.#state = "connected";
    const p = connack.properties;
    if (p?.assignedClientIdentifier !== undefined) this.#clientId = p.assignedClientIdentifier;
    if (p?.receiveMaximum !== undefined) this.#inflightMaximum = p.receiveMaximum;
    if (p?.maximumPacketSize !== undefined && p.maximumPacketSize < this.#serverMaximumPacketSize) {
      this.#serverMaximumPacketSize = p.maximumPacketSize;
    }
    if (p?.maximumQoS !== undefined) this.#maximumQoS = p.maximumQoS as QoS;
    if (p?.retainAvailable === 0) this.#retainAvailable = false;
    // The broker's Server Keep Alive replaces ours [MQTT-3.2.2-21].
    const keepalive = p?.serverKeepAlive ?? this.#options.keepalive ?? 60;
    this.#keepaliveMs = keepalive * 1000;
    if (this.#keepaliveMs > 0) this.#armKeepalive(this.#keepaliveMs);
  }

  async #readLoop(conn: ClientStream): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_SIZE);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        // The framer keeps views into pushed chunks, so each read gets its own copy.
        this.#framer.push(buffer.slice(0, n));
        for (let frame = this.#framer.next(); frame; frame = this.#framer.next()) {
          if (this.#state === "closed") return;
          this.#handle(decodePacket(frame, this.#version));
        }
      }
      if (this.#state === "closed") return;
      const d = this.#serverDisconnect;
      this.#fail(
        new MqttConnectionError(
          d !== undefined
            ? `Disconnected by the broker: ${reasonString(d.reasonCode ?? 0)}${
              d.properties?.reasonString ? ` (${d.properties.reasonString})` : ""
            }`
            : this.#state === "connecting"
            ? "Connection closed by the broker before CONNACK"
            : "Connection closed by the broker",
        ),
      );
    } catch (error) {
      if (this.#state === "closed") return;
      this.#fail(
        error instanceof Error && !(error instanceof Deno.errors.BadResource) &&
          !isNetworkError(error)
          ? error
          : new MqttConnectionError(`Connection lost: ${networkMessage(error)}`, {
            cause: error,
          }),
      );
    }
  }

  #handle(packet: Packet): void {
    this.#debug(packet, "received");
    if (this.#state === "connecting" && packet.type !== "connack") {
      throw new MqttConnectionError(
        `Protocol error: received ${packet.type.toUpperCase()} before CONNACK`,
      );
    }
    switch (packet.type) {
      case "connack":
        if (this.#connackWaiter === undefined) {
          throw new MqttConnectionError("Protocol error: a second CONNACK [MQTT-3.2.0-2]");
        }
        // Accept at once: queued messages may follow the CONNACK in the same read.
        if (packet.reasonCode === 0) this.#accept(packet);
        this.#connackWaiter.resolve(packet);
        return;
      case "publish":
        return this.#handlePublish(packet);
      case "puback":
      case "pubcomp":
      case "suback":
      case "unsuback":
        return this.#settle(packet.packetId, packet);
      case "pubrec":
        return this.#handlePubrec(packet);
      case "pubrel": {
        this.#incomingQos2.delete(packet.packetId);
        const pubcomp: AckPacket = { type: "pubcomp", packetId: packet.packetId };
        if (this.#version === 5) pubcomp.reasonCode = 0;
        this.#send(pubcomp);
        return;
      }
      case "pingresp":
        this.#pingSentAt = undefined;
        return;
      case "disconnect":
        this.#serverDisconnect = packet;
        return;
      default:
        throw new MqttConnectionError(
          `Protocol error: a client does not accept ${packet.type.toUpperCase()}`,
        );
    }
  }

  #handlePublish(packet: PublishPacket): void {
    let topic = packet.topic;
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      // Topic aliases from the broker (section 3.3.2.3.4): a name sets the alias, none uses it.
      if (topic !== "") this.#inboundAliases.set(alias, topic);
      else {
        const known = this.#inboundAliases.get(alias);
        if (known === undefined) {
          throw new MqttConnectionError(`Protocol error: unknown topic alias ${alias}`);
        }
        topic = known;
      }
    }
    const message: ReceivedMessage = {
      topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
    };
    if (packet.packetId !== undefined) message.packetId = packet.packetId;
    if (packet.properties !== undefined) message.properties = packet.properties;
    if (this.#options.manualAck && packet.qos > 0) {
      const id = packet.packetId!;
      // A re-sent copy of a message not acknowledged yet: the pending acknowledgement covers it.
      if (this.#unacknowledged.has(id)) return;
      if (packet.qos === 2 && this.#incomingQos2.has(id)) {
        this.#sendAck("pubrec", id);
        return;
      }
      if (packet.qos === 2) this.#incomingQos2.add(id);
      this.#unacknowledged.add(id);
      this.#deliver(message);
      return;
    }
    if (packet.qos === 2) {
      // Method B of figure 4.3: deliver once, remember the identifier until PUBREL, so that a
      // re-sent PUBLISH is acknowledged but not delivered again [MQTT-4.3.3-9].
      const duplicate = this.#incomingQos2.has(packet.packetId!);
      this.#incomingQos2.add(packet.packetId!);
      if (!duplicate) this.#deliver(message);
      this.#sendAck("pubrec", packet.packetId!);
      return;
    }
    // PUBACK goes first, as libmosquitto does, so a slow listener does not delay it.
    if (packet.qos === 1) this.#sendAck("puback", packet.packetId!);
    this.#deliver(message);
  }

  #handlePubrec(packet: AckPacket): void {
    const pending = this.#pending.get(packet.packetId);
    if (pending === undefined || pending.awaiting !== "pubrec") {
      // Unknown identifier: release it anyway so the broker can forget it (4.3.3).
      const pubrel: AckPacket = { type: "pubrel", packetId: packet.packetId };
      if (this.#version === 5) pubrel.reasonCode = 0x92;
      this.#send(pubrel);
      return;
    }
    if ((packet.reasonCode ?? 0) >= 0x80) {
      // A failed PUBREC ends the flow: no PUBREL follows [MQTT-4.3.3-4].
      this.#settle(packet.packetId, packet);
      return;
    }
    pending.awaiting = "pubcomp";
    pending.onReceived?.();
    const resolve = pending.resolve;
    // The publish resolves with the PUBREC's reason code once PUBCOMP arrives.
    pending.resolve = () => resolve(packet);
    this.#sendAck("pubrel", packet.packetId);
  }

  #settle(packetId: number, packet: AckPacket | SubackPacket | UnsubackPacket): void {
    const pending = this.#pending.get(packetId);
    if (pending === undefined || pending.awaiting !== packet.type) return;
    this.#pending.delete(packetId);
    pending.resolve(packet);
  }

  #deliver(message: ReceivedMessage): void {
    for (const listener of this.#listeners) listener(message);
    for (const queue of this.#queues) queue.push(message);
  }

  #sendAck(type: "puback" | "pubrec" | "pubrel", packetId: number): void {
    const ack: AckPacket = { type, packetId };
    if (this.#version === 5) ack.reasonCode = 0;
    this.#send(ack);
  }

  // --- packet identifiers and flow control ---------------------------------------------------------

  #allocatePacketId(): number {
    for (let tries = 0; tries < 65535; tries++) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.#pending.has(id) && !this.#reservedIds.has(id)) return id;
    }
    throw new Error("Cannot send: all 65535 packet identifiers are in use");
  }

  #await(
    packetId: number,
    awaiting: AwaitedAck,
  ): Promise<AckPacket | SubackPacket | UnsubackPacket> {
    return new Promise((resolve, reject) => {
      this.#pending.set(packetId, { awaiting, resolve, reject });
    });
  }

  /**
   * Takes an in-flight slot, waiting in FIFO order when the broker's Receive Maximum is reached; a
   * released slot is handed straight to the next waiter so that publishes keep their order.
   */
  #acquireSlot(): Promise<void> | undefined {
    if (this.#inflight < this.#inflightMaximum && this.#slotWaiters.length === 0) {
      this.#inflight++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  #releaseSlot(): void {
    const next = this.#slotWaiters.shift();
    if (next !== undefined) next();
    else this.#inflight--;
  }

  // --- keepalive ---------------------------------------------------------------------------------

  #armKeepalive(delayMs: number): void {
    this.#keepaliveTimer = setTimeout(() => this.#onKeepalive(), Math.max(0, delayMs));
  }

  /**
   * Sends PINGREQ when nothing was sent for a keepalive period [MQTT-3.1.2-23] and gives up when
   * the PINGRESP has not come within another period, as libmosquitto does.
   */
  #onKeepalive(): void {
    if (this.#state !== "connected") return;
    const now = Date.now();
    const period = this.#keepaliveMs;
    if (this.#pingSentAt !== undefined) {
      const waited = now - this.#pingSentAt;
      if (waited >= period) {
        this.#fail(new MqttConnectionError("Connection lost: no PINGRESP within the keepalive"));
        return;
      }
      this.#armKeepalive(period - waited);
      return;
    }
    const idle = now - this.#lastSent;
    if (idle >= period) {
      this.#pingSentAt = now;
      this.#send({ type: "pingreq" });
      this.#armKeepalive(period);
      return;
    }
    this.#armKeepalive(period - idle);
  }

  // --- writing and closing -----------------------------------------------------------------------

  #encode(packet: Packet): Uint8Array {
    const bytes = encodePacket(packet, this.#version);
    if (bytes.length > this.#serverMaximumPacketSize) {
      throw new Error(
        `Cannot send ${packet.type.toUpperCase()}: size ${bytes.length} exceeds the broker's maximum packet size ${this.#serverMaximumPacketSize}`,
      );
    }
    return bytes;
  }

  /** Encodes and writes; resolves when written or when the connection failed (never rejects). */
  #send(packet: Packet, evenIfClosing = false): Promise<void> {
    if (this.#state === "closed" && !evenIfClosing) return Promise.resolve();
    return this.#write(this.#encode(packet), packet);
  }

  #write(bytes: Uint8Array, packet: Packet): Promise<void> {
    const conn = this.#conn;
    if (conn === undefined) return Promise.resolve();
    this.#debug(packet, "sending");
    this.#lastSent = Date.now();
    const written = this.#writeChain.then(() => writeAll(conn, bytes)).catch((error) => {
      this.#fail(new MqttConnectionError(`Connection lost: ${networkMessage(error)}`));
    });
    this.#writeChain = written;
    return written;
  }

  #debug(packet: Packet, direction: Direction): void {
    const debug = this.#options.debug;
    if (debug === undefined) return;
    const id = this.#clientId === "" ? "(null)" : this.#clientId;
    for (const line of describePacket(packet, direction)) debug(`Client ${id} ${line}`);
  }

  /** Ends the connection because of `error`: rejects everything pending. */
  #fail(error: Error): void {
    this.#finish(error);
  }

  #finish(error: Error | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = "closed";
    if (error !== undefined) this.#closeError = error;
    clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    try {
      conn?.close();
    } catch {
      // Already closed by the peer.
    }
    const reason = error ?? new MqttConnectionError("Connection closed by the client");
    this.#connackWaiter?.reject(reason);
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
    for (const wake of this.#slotWaiters.splice(0)) wake();
    for (const queue of this.#queues) queue.end(error);
    this.#queues.clear();
    this.#resolveClosed(error);
  }

  #assertConnected(what: string): void {
    if (this.#state !== "connected") {
      throw this.#closeError ??
        new MqttConnectionError(`Cannot ${what}: the client is not connected`);
    }
  }

  #assertOpen(what: string): void {
    if (this.#state === "closed") {
      throw this.#closeError ?? new MqttConnectionError(`Cannot ${what}: the connection closed`);
    }
  }
}

async function writeAll(conn: ClientStream, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function isNetworkError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.Interrupted;
}

/**
 * An OS error without Deno's ` (os error 111)` suffix, so that `midge pub` prints
 * `Error: Connection refused` as `mosquitto_pub` does (strerror wording).
 */
function networkMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\(os error \d+\)$/, "");
}
