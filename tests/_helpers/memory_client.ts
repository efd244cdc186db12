/**
 * An in-memory client for broker tests: a {@linkcode Transport} pipe straight into
 * `broker.handleTransport`, with the project codec on the client side. Fast and deterministic, no
 * sockets. (Interop tests use real peers; these prove the protocol rules one by one.)
 *
 * @module
 */

import { Framer } from "../../codec/frame.ts";
import { decodePacket, encodePacket } from "../../codec/packet.ts";
import type { ConnackPacket, ConnectPacket, Packet, ProtocolVersion } from "../../codec/types.ts";
import type { Broker } from "../../broker/broker.ts";
import type { Transport, TransportSink } from "../../broker/transport.ts";

/** The packet shape whose `type` is `T` (AckPacket covers four types). */
export type PacketOf<T extends Packet["type"]> = Packet & { type: T };

/** A test client connected to a broker through memory. */
export class MemoryClient implements Transport {
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort: number;
  version: ProtocolVersion;
  /** Packets received and not yet taken by {@linkcode next}. */
  readonly inbox: Packet[] = [];
  /** Every byte chunk the broker wrote, in order. */
  readonly written: Uint8Array[] = [];
  closed = false;
  #sink: TransportSink | undefined;
  #framer = new Framer();
  #waiters: (() => void)[] = [];
  static #port = 40000;

  constructor(version: ProtocolVersion = 4) {
    this.version = version;
    this.remotePort = MemoryClient.#port++;
  }

  /** Opens a connection to `broker` without sending anything. */
  static open(broker: Broker, version: ProtocolVersion = 4): MemoryClient {
    const client = new MemoryClient(version);
    broker.handleTransport(client);
    return client;
  }

  /** Opens a connection, sends CONNECT and waits for CONNACK. */
  static async connect(
    broker: Broker,
    connect: Partial<ConnectPacket> & { protocolVersion?: ProtocolVersion } = {},
  ): Promise<{ client: MemoryClient; connack: ConnackPacket }> {
    const version = connect.protocolVersion ?? 4;
    const client = MemoryClient.open(broker, version);
    client.send({
      type: "connect",
      protocolName: version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: version,
      clean: true,
      keepalive: 60,
      clientId: "",
      ...connect,
    } as ConnectPacket);
    const connack = await client.next("connack");
    return { client, connack };
  }

  // ---- Transport (the broker's side) ----

  start(sink: TransportSink): void {
    this.#sink = sink;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.written.push(bytes.slice());
    this.#framer.push(bytes.slice());
    for (let frame = this.#framer.next(); frame; frame = this.#framer.next()) {
      this.inbox.push(decodePacket(frame, this.version));
    }
    this.#wake();
    return Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wake();
    this.#sink?.onClose();
  }

  // ---- the client's side ----

  /** Encodes and sends a packet to the broker. */
  send(packet: Packet): void {
    this.sendBytes(encodePacket(packet, this.version));
  }

  /** Sends raw bytes to the broker (a fresh copy, as a real transport would). */
  sendBytes(bytes: Uint8Array): void {
    if (this.closed) throw new Error("Cannot send: connection is closed");
    this.#sink?.onData(bytes.slice());
  }

  /** The client drops the connection without DISCONNECT (socket loss). */
  drop(): void {
    this.close();
  }

  /**
   * The next packet (of `type`, skipping nothing: a different type fails), waiting up to
   * `timeoutMs` (a hang guard, not a performance check).
   */
  async next<T extends Packet["type"]>(
    type?: T,
    timeoutMs = 2000,
  ): Promise<PacketOf<T>> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error(`Connection closed while waiting for ${type ?? "a packet"}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${type ?? "a packet"}`);
      await this.#wait(left);
    }
    const packet = this.inbox.shift() as Packet;
    if (type !== undefined && packet.type !== type) {
      throw new Error(`Expected ${type}, got ${packet.type}: ${JSON.stringify(packet)}`);
    }
    return packet as PacketOf<T>;
  }

  /** Waits until the broker closed the connection; returns the packets received before. */
  async closedByBroker(timeoutMs = 2000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Timed out waiting for the broker to close");
      await this.#wait(left);
    }
    return this.inbox.splice(0);
  }

  /** Lets the broker run for `ms`, then returns what arrived (and clears the inbox). */
  async settle(ms = 20): Promise<Packet[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.inbox.splice(0);
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(done);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
