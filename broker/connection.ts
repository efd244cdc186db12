/**
 * One client connection: bytes in → frames → packets → one handler per packet type; packets out
 * → one coalesced write per tick. The only place that turns errors into reason codes and closes
 * clients (as Mosquitto's `handle__packet` and `do_disconnect`).
 *
 * @module
 */

import { CodecError } from "../codec/codec_error.ts";
import { MAX_PACKET_SIZE, MAX_REMAINING_LENGTH } from "../codec/constants.ts";
import { Framer } from "../codec/frame.ts";
import { decodePacket, encodePacket } from "../codec/packet.ts";
import { PacketType } from "../codec/constants.ts";
import {
  ConnackReturnCode,
  isReasonCodeAllowed,
  ReasonCode,
  reasonCodeName,
} from "../codec/reason_code.ts";
import type { Packet, ProtocolVersion, Will } from "../codec/types.ts";
import type { Broker } from "./broker.ts";
import type { BrokerListener } from "./broker_listener.ts";
import { handleAck } from "./handlers/handle_ack.ts";
import { handleAuth } from "./handlers/handle_auth.ts";
import { handleConnect } from "./handlers/handle_connect.ts";
import { handleDisconnect } from "./handlers/handle_disconnect.ts";
import { handlePingreq } from "./handlers/handle_pingreq.ts";
import { handlePublish } from "./handlers/handle_publish.ts";
import { handleSubscribe } from "./handlers/handle_subscribe.ts";
import { handleUnsubscribe } from "./handlers/handle_unsubscribe.ts";
import {
  DisconnectReason,
  disconnectReasonOf,
  type ListenerMetrics,
} from "./metrics/broker_metrics.ts";
import { ProtocolError } from "./protocol_error.ts";
import type { Session } from "./session.ts";
import type { Transport, TransportSink } from "./transport.ts";

const PACKET_CONNECT = 1;

/** Where a connection is in its life. */
export type ConnectionState = "new" | "connected" | "closing" | "closed";

/** A client's network connection and its per-connection protocol state. */
export class Connection {
  readonly broker: Broker;
  readonly transport: Transport;
  /** The listener that accepted it: its port and live settings. */
  readonly listener: BrokerListener;
  /** Its listener's counters, incremented in place. */
  readonly metrics: ListenerMetrics;
  /** `Date.now()` when CONNECT was accepted; 0 before. */
  connectedAt = 0;
  /**
   * Why the connection ends, a {@linkcode DisconnectReason} for metrics; -1 until known (a close
   * with no reason recorded is a lost connection). The first reason recorded wins.
   */
  disconnectReason = -1;
  state: ConnectionState = "new";
  /** Protocol level from CONNECT; 4 until then. */
  version: ProtocolVersion = 4;
  clientId = "";
  username: string | undefined;
  session: Session | undefined;
  /** Will from CONNECT, cleared by a normal DISCONNECT [MQTT-3.1.2-10]. */
  will: Will | undefined;
  /** Keep Alive in effect, seconds (0 = off). */
  keepalive = 0;
  /** `Date.now()` of the last packet bytes received. */
  lastActivity: number;
  readonly createdAt: number;
  /** The client's Receive Maximum: our QoS 1/2 PUBLISHes it accepts unacknowledged. */
  clientReceiveMaximum = 65535;
  /** The client's Maximum Packet Size: we never send it a larger packet [MQTT-3.1.2-24]. */
  clientMaximumPacketSize = MAX_PACKET_SIZE;
  /** The client's Topic Alias Maximum: aliases we may use on PUBLISHes to it. */
  clientTopicAliasMaximum = 0;
  /** v5 Request Problem Information: false means no reason strings except on PUBLISH/CONNACK/DISCONNECT. */
  requestProblemInformation = true;
  /** Topic aliases the client set up, alias → topic [MQTT-3.3.2-10]; created on first use. */
  get inboundAliases(): Map<number, string> {
    return this.#inboundAliases ??= new Map();
  }
  /** Topic aliases we set up on PUBLISHes to the client, topic → alias; created on first use. */
  get outboundAliases(): Map<string, number> {
    return this.#outboundAliases ??= new Map();
  }
  /** QoS 0 messages dropped because the client did not read fast enough. */
  droppedQos0 = 0;
  /** `Date.now()` since the outgoing buffer has been over its bound; 0 when it is not. */
  overBoundSince = 0;
  /** True when the will is to be published when the connection ends. */
  publishWillOnClose = true;
  /**
   * An MQTT 3.x client that announced itself as a bridge (Mosquitto's `try_private`): it is not
   * sent back its own messages, and it gets RETAIN as published, as Mosquitto treats bridges.
   */
  isBridge = false;

  readonly #framer: Framer;
  // Only MQTT 5 clients using topic aliases need these: an empty Map costs about 200 bytes.
  #inboundAliases: Map<number, string> | undefined;
  #outboundAliases: Map<string, number> | undefined;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writingBytes = 0;
  #writing = false;
  #flushScheduled = false;
  #closeAfterFlush = false;
  /** An acknowledgement is queued: the next write waits until the store's commits are durable. */
  #needsDurable = false;
  /** True while an asynchronous CONNECT (password check) is pending. */
  #authenticating = false;

  /** Wraps `transport`; call {@linkcode start} to begin reading. */
  constructor(broker: Broker, transport: Transport, listener: BrokerListener) {
    this.broker = broker;
    this.transport = transport;
    this.listener = listener;
    this.metrics = listener.metrics;
    this.createdAt = this.lastActivity = Date.now();
    // Without a configured limit, a whole packet may be as large as the largest Remaining Length
    // (256 MiB): a header announcing more is refused with 0x95 before any body is buffered.
    this.#framer = new Framer({
      maximumPacketSize: broker.options.maxPacketSize || MAX_REMAINING_LENGTH,
    });
  }

  /** Starts reading from the transport. */
  start(): void {
    this.transport.start(new Connection.#Sink(this));
  }

  /** Passes transport events on: one small object per connection instead of two closures. */
  static readonly #Sink = class implements TransportSink {
    readonly #connection: Connection;
    constructor(connection: Connection) {
      this.#connection = connection;
    }
    onData(chunk: Uint8Array): void {
      this.#connection.#receive(chunk);
    }
    onClose(error?: unknown): void {
      this.#connection.#closed(error);
    }
  };

  /** `address:port` of the peer, for log lines. */
  get peer(): string {
    const { remoteAddress, remotePort } = this.transport;
    return `${remoteAddress}:${remotePort}`;
  }

  /** The client id for log lines: "<unknown>" before CONNECT, as Mosquitto prints. */
  get logName(): string {
    return this.clientId === "" ? "<unknown>" : this.clientId;
  }

  /** Bytes queued or being written to the client. */
  get outgoingBytes(): number {
    return this.#pendingBytes + this.#writingBytes;
  }

  /** Encodes and queues `packet`, unless it exceeds the client's Maximum Packet Size. */
  send(packet: Packet): void {
    // Acknowledgements (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK, CONNACK …) promise state the
    // store must hold first; PUBLISHes to subscribers and PINGRESP promise nothing.
    if (packet.type !== "pingresp") this.#needsDurable = true;
    const bytes = encodePacket(packet, this.version);
    if (bytes.length > this.clientMaximumPacketSize) {
      // [MQTT-3.1.2-25]: strip what may be stripped (reason string, user properties) and retry.
      if ("properties" in packet && packet.properties) {
        const { reasonString: _r, userProperties: _u, ...rest } = packet.properties;
        const stripped = { ...packet, properties: Object.keys(rest).length ? rest : undefined };
        if (stripped.properties === undefined) delete stripped.properties;
        const smaller = encodePacket(stripped as Packet, this.version);
        if (smaller.length <= this.clientMaximumPacketSize) this.sendBytes(smaller);
      }
      return;
    }
    this.sendBytes(bytes);
  }

  /**
   * Queues already-encoded bytes (possibly shared with other connections: never modified).
   * Everything queued in one tick goes out in one write.
   */
  sendBytes(bytes: Uint8Array): void {
    if (this.state === "closed" || this.#closeAfterFlush) return;
    this.metrics.packetsSent++;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (!this.#writing && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Ends the connection because of `reasonCode`: a v5 client gets DISCONNECT with it (and a
   * reason string) first [MQTT-4.13.2-1]. The will is published unless cleared before.
   */
  disconnect(reasonCode: number, reason?: string): void {
    if (this.state === "closing" || this.state === "closed") return;
    if (this.disconnectReason < 0) this.disconnectReason = disconnectReasonOf(reasonCode);
    if (this.version === 5 && this.state === "connected") {
      // Codes that only CONNACK may carry (e.g. 0x8C) become Protocol Error [MQTT-3.14.2-1].
      if (!isReasonCodeAllowed(PacketType.Disconnect, reasonCode)) {
        reasonCode = reasonCode === ReasonCode.MalformedPacket
          ? reasonCode
          : ReasonCode.ProtocolError;
      }
      this.send({
        type: "disconnect",
        reasonCode,
        ...(reason && this.requestProblemInformation
          ? { properties: { reasonString: reason } }
          : {}),
      });
    }
    this.#closeSoon();
  }

  /** Answers a CONNECT with a refusal and closes: v5 reason code or v3 return code. */
  refuseConnect(reasonCode: number, reason?: string): void {
    if (this.state !== "new") return;
    this.broker.metrics.connectRefused(reasonCode);
    const code = this.version === 5
      ? isReasonCodeAllowed(PacketType.Connack, reasonCode)
        ? reasonCode
        : ReasonCode.UnspecifiedError
      : toV3ReturnCode(reasonCode);
    if (code === undefined) {
      // 3.1.1 has no return code for malformed packets: the server just closes [MQTT-4.8.0-1].
      this.destroy();
      return;
    }
    this.send({
      type: "connack",
      sessionPresent: false,
      reasonCode: code,
      ...(this.version === 5 && reason ? { properties: { reasonString: reason } } : {}),
    });
    this.#closeSoon();
  }

  /** Closes the socket now, dropping anything unsent. */
  destroy(): void {
    if (this.state === "closed") return;
    this.state = "closing";
    this.transport.close();
  }

  #closeSoon(): void {
    this.state = "closing";
    this.#closeAfterFlush = true;
    if (!this.#writing && !this.#flushScheduled) this.transport.close();
  }

  #receive(chunk: Uint8Array): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.lastActivity = Date.now();
    const metrics = this.metrics;
    metrics.bytesReceived += chunk.length;
    if (
      this.state === "new" && !this.#authenticating && this.#framer.bufferedBytes === 0 &&
      (chunk[0] as number) >> 4 !== PACKET_CONNECT
    ) {
      // [MQTT-3.1.0-1]: the first byte already tells; do not buffer a non-CONNECT's body.
      this.broker.log.info(`Client ${this.peer} sent a first packet that is not CONNECT, closing.`);
      this.destroy();
      return;
    }
    this.#framer.push(chunk);
    // While CONNECT's password is being checked, later packets wait in the framer.
    if (!this.#authenticating) this.#processFrames();
  }

  /** Handles every complete frame buffered, until one needs to wait (an async CONNECT). */
  #processFrames(): void {
    const metrics = this.metrics;
    try {
      for (let frame = this.#framer.next(); frame; frame = this.#framer.next()) {
        if (this.state === "new" && frame.header >> 4 !== PACKET_CONNECT) {
          // [MQTT-3.1.0-1]: the first packet must be CONNECT; no CONNACK to a non-client.
          throw new ProtocolError(ReasonCode.ProtocolError, "Expected CONNECT as the first packet");
        }
        metrics.packetsReceived++;
        const pending = this.#dispatch(decodePacket(frame, this.version));
        if (pending !== undefined) {
          this.#authenticating = true;
          // A closure only while a CONNECT waits, not a bound field on every connection.
          pending.then(() => this.#resume(), (error) => {
            this.#authenticating = false;
            this.#failSafely(error);
          });
          return;
        }
        if (this.state !== "new" && this.state !== "connected") return;
      }
    } catch (error) {
      this.#failSafely(error);
    }
  }

  #resume(): void {
    this.#authenticating = false;
    if (this.state === "new" || this.state === "connected") this.#processFrames();
  }

  #failSafely(error: unknown): void {
    if (this.state === "closing" || this.state === "closed") return;
    try {
      this.#fail(error);
    } catch (failure) {
      // The error path itself must never throw into the transport.
      this.broker.log.error(`Internal error while closing client ${this.logName}: ${failure}`);
      this.destroy();
    }
  }

  #dispatch(packet: Packet): void | Promise<void> {
    switch (packet.type) {
      case "connect":
        if (this.state !== "new") {
          // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
          throw new ProtocolError(ReasonCode.ProtocolError, "Received a second CONNECT");
        }
        return handleConnect(this, packet);
      case "publish":
        return handlePublish(this, packet);
      case "puback":
      case "pubrec":
      case "pubrel":
      case "pubcomp":
        return handleAck(this, packet);
      case "subscribe":
        return handleSubscribe(this, packet);
      case "unsubscribe":
        return handleUnsubscribe(this, packet);
      case "pingreq":
        return handlePingreq(this);
      case "disconnect":
        return handleDisconnect(this, packet);
      case "auth":
        return handleAuth(this, packet);
      default:
        throw new ProtocolError(
          ReasonCode.ProtocolError,
          `A client must not send ${packet.type.toUpperCase()}`,
        );
    }
  }

  /** Maps an error to the answer the protocol asks for, logs it, and closes. */
  #fail(error: unknown): void {
    let reasonCode: number;
    let message: string;
    if (error instanceof CodecError || error instanceof ProtocolError) {
      reasonCode = error.reasonCode;
      message = error.message;
      if (error instanceof CodecError && error.protocolVersion !== undefined) {
        this.version = error.protocolVersion;
      }
    } else {
      reasonCode = ReasonCode.ImplementationSpecificError;
      message = error instanceof Error ? error.message : String(error);
      this.broker.log.error(`Internal error on client ${this.logName}: ${message}`);
    }
    if (!(error instanceof ProtocolError && error.logged)) {
      this.broker.log.info(
        `Client ${this.logName} disconnected: ${message} (${reasonCodeName(reasonCode)}).`,
      );
    }
    if (this.state === "new") {
      // A CONNECT we could not accept: answer it when we know enough of it to answer in kind.
      if (
        error instanceof CodecError && error.protocolVersion !== undefined ||
        error instanceof ProtocolError && this.clientId !== ""
      ) {
        this.refuseConnect(reasonCode, message);
      } else {
        this.destroy();
      }
      return;
    }
    this.disconnect(reasonCode, message);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#writing || this.state === "closed") return;
    if (this.#pending.length === 0) {
      if (this.#closeAfterFlush) this.transport.close();
      return;
    }
    // Nothing acknowledged may be lost: whatever the store recorded this tick (the message an
    // outgoing PUBACK or PUBREC acknowledges, a SUBACK's subscription) is committed first.
    const store = this.broker.store;
    let durable: Promise<void> | undefined;
    if (store) {
      if (store.dirty) store.commit();
      if (this.#needsDurable && store.whenDurable && store.commitCount !== undefined) {
        durable = store.whenDurable(store.commitCount);
      }
    }
    this.#needsDurable = false;
    const pending = this.#pending;
    let chunk: Uint8Array;
    if (pending.length === 1) {
      chunk = pending[0] as Uint8Array;
    } else {
      // One write per tick: copying is far cheaper than a syscall (and a promise) per packet.
      chunk = new Uint8Array(this.#pendingBytes);
      let offset = 0;
      for (const part of pending) {
        chunk.set(part, offset);
        offset += part.length;
      }
    }
    this.#pending = [];
    this.metrics.bytesSent += chunk.length;
    this.#writingBytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    this.#writing = true;
    if (durable) {
      // Everything queued so far waits for the fsync (in order); what comes meanwhile queues
      // behind it for the next write, so a busy client is never starved by newer commits.
      durable.then(() => this.#write(chunk));
    } else {
      this.transport.write(chunk).then(this.#written, this.#writeFailed);
    }
  };

  #write(chunk: Uint8Array): void {
    if (this.state === "closed") {
      this.#written();
      return;
    }
    this.transport.write(chunk).then(this.#written, this.#writeFailed);
  }

  #written = (): void => {
    this.#writing = false;
    this.#writingBytes = 0;
    if (this.state === "closed") return;
    if (this.#pending.length > 0 || this.#closeAfterFlush) this.#flush();
  };

  #writeFailed = (error: unknown): void => {
    this.#writing = false;
    this.#writingBytes = 0;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.state !== "closed") {
      const message = error instanceof Error ? error.message : String(error);
      this.broker.log.info(`Socket error on client ${this.logName}, disconnecting: ${message}`);
      this.destroy();
    }
  };

  #closed(error: unknown): void {
    if (this.state === "closed") return;
    const wasConnected = this.session !== undefined && this.session.connection === this;
    const orderly = this.state === "closing";
    this.state = "closed";
    if (this.connectedAt !== 0) {
      const reason = this.disconnectReason;
      this.broker.metrics.disconnects[reason < 0 ? DisconnectReason.ConnectionLost : reason]!++;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!orderly && wasConnected) {
      const detail = error instanceof Error ? `: ${error.message}` : "";
      this.broker.log.info(`Client ${this.logName} closed its connection${detail}.`);
    }
    this.broker.connectionClosed(this);
  }
}

/** The MQTT 3.1.1 CONNACK return code closest to an MQTT 5 reason code. */
function toV3ReturnCode(reasonCode: number): number | undefined {
  switch (reasonCode) {
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
      return ConnackReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
      return ConnackReturnCode.NotAuthorized;
    case ReasonCode.ServerUnavailable:
    case ReasonCode.ServerBusy:
      return ConnackReturnCode.ServerUnavailable;
    default:
      return undefined;
  }
}
