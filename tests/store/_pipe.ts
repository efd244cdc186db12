/**
 * A bare MQTT connection over TCP on the project codec, for tests that need what a library
 * client hides: choosing packet ids, keeping many QoS 1/2 publishes in flight, and re-sending
 * PUBLISH (DUP) and PUBREL after reconnecting to a restarted broker. Also the windowed
 * publisher used by the crash tests and `persistence_bench.ts`.
 *
 * @module
 */

import { Framer } from "../../codec/frame.ts";
import { decodePacket, encodePacket } from "../../codec/packet.ts";
import type { ConnackPacket, ConnectPacket, Packet, ProtocolVersion } from "../../codec/types.ts";
import { withTimeout } from "../_helpers/process.ts";

/** One TCP connection speaking MQTT packets. */
export class Pipe {
  readonly version: ProtocolVersion;
  /** Resolves when the connection is gone (closed by either side or failed). */
  readonly closed: Promise<void>;
  readonly #conn: Deno.TcpConn;
  #onPacket: (packet: Packet) => void = () => {};
  #queued: Uint8Array[] = [];
  #writing = false;
  #gone = false;

  private constructor(conn: Deno.TcpConn, version: ProtocolVersion) {
    this.#conn = conn;
    this.version = version;
    this.closed = this.#read();
  }

  /** Connects, sends CONNECT and resolves with the pipe and the CONNACK. */
  static async connect(
    port: number,
    connect: Partial<ConnectPacket> & { clientId: string },
  ): Promise<{ pipe: Pipe; connack: ConnackPacket }> {
    const version = connect.protocolVersion ?? 4;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const pipe = new Pipe(conn, version);
    const connack = new Promise<ConnackPacket>((resolve, reject) => {
      pipe.#onPacket = (packet) => {
        if (packet.type === "connack") resolve(packet);
        else reject(new Error(`Expected CONNACK, got ${packet.type}`));
      };
      pipe.closed.then(() => reject(new Error("Connection closed before CONNACK")));
    });
    pipe.send({
      type: "connect",
      protocolName: version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: version,
      clean: true,
      keepalive: 0,
      ...connect,
    });
    const ack = await withTimeout(connack, 15_000, `CONNACK for ${connect.clientId}`);
    if (ack.reasonCode !== 0) throw new Error(`Connection refused: ${ack.reasonCode}`);
    return { pipe, connack: ack };
  }

  /** Whether the connection is gone. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Receives every packet from now on. */
  onPacket(handler: (packet: Packet) => void): void {
    this.#onPacket = handler;
  }

  /** Queues a packet; writes are coalesced and never overlap. Ignored once gone. */
  send(packet: Packet): void {
    if (this.#gone) return;
    this.#queued.push(encodePacket(packet, this.version));
    if (!this.#writing) this.#write();
  }

  /** Closes the socket (no DISCONNECT: the broker sees a lost connection). */
  close(): void {
    if (this.#gone) return;
    this.#gone = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #write(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queued.length > 0 && !this.#gone) {
        const parts = this.#queued;
        this.#queued = [];
        const total = parts.reduce((n, p) => n + p.length, 0);
        const chunk = new Uint8Array(total);
        let offset = 0;
        for (const part of parts) {
          chunk.set(part, offset);
          offset += part.length;
        }
        for (let done = 0; done < chunk.length;) {
          done += await this.#conn.write(chunk.subarray(done));
        }
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  async #read(): Promise<void> {
    const framer = new Framer();
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        framer.push(buffer.slice(0, n));
        for (let frame = framer.next(); frame; frame = framer.next()) {
          this.#onPacket(decodePacket(frame, this.version));
        }
      }
    } catch {
      // Reset by the peer (a killed broker): the connection is simply gone.
    } finally {
      this.close();
    }
  }
}

/** What a {@linkcode WindowPublisher} has seen of each message, by index. */
export type PublishState = "unsent" | "sent" | "acked" | "released" | "completed";

/**
 * Publishes messages `0..count-1` at one QoS with up to `window` in flight, recording per index
 * what the broker acknowledged. For QoS 2, "acked" means PUBREC seen (the broker owns the
 * message from then on); "completed" means PUBCOMP seen.
 */
export class WindowPublisher {
  readonly states: PublishState[];
  readonly #qos: 1 | 2;
  readonly #window: number;
  readonly #payload: (index: number) => Uint8Array;
  readonly #topic: string;
  /** Packet id → message index of what is in flight. */
  readonly #inflight = new Map<number, number>();
  #next = 0;
  #nextId = 1;
  #pipe: Pipe | undefined;
  #onAck: (acked: number) => void = () => {};
  #acked = 0;
  #finished: (() => void) | undefined;

  constructor(options: {
    topic: string;
    qos: 1 | 2;
    count: number;
    window: number;
    payload: (index: number) => Uint8Array;
  }) {
    this.#topic = options.topic;
    this.#qos = options.qos;
    this.#window = options.window;
    this.#payload = options.payload;
    this.states = new Array<PublishState>(options.count).fill("unsent");
  }

  /** Messages acknowledged (PUBACK, or PUBREC for QoS 2) so far. */
  get acked(): number {
    return this.#acked;
  }

  /** Calls `handler` with the number acknowledged after each acknowledgement. */
  onAck(handler: (acked: number) => void): void {
    this.#onAck = handler;
  }

  /**
   * Publishes over `pipe` until every message is complete (resolves) or the pipe is gone
   * (resolves too: the caller looks at {@linkcode states}).
   */
  run(pipe: Pipe): Promise<void> {
    this.#pipe = pipe;
    pipe.onPacket((packet) => this.#handle(packet));
    const done = new Promise<void>((resolve) => this.#finished = resolve);
    this.#fill();
    return Promise.race([done, pipe.closed]);
  }

  /**
   * After reconnecting with the same session to a restarted broker: re-sends, in their original
   * order, PUBLISH (DUP) for what was never acknowledged and PUBREL for what was PUBREC'd but not
   * completed [MQTT-4.4.0-1], then resolves once all of those are complete. Publishes nothing new.
   */
  resume(pipe: Pipe): Promise<void> {
    this.#pipe = pipe;
    pipe.onPacket((packet) => this.#handle(packet));
    const done = new Promise<void>((resolve) => this.#finished = resolve);
    this.#next = this.states.length; // nothing new
    const inflight = [...this.#inflight].sort((a, b) => a[1] - b[1]);
    for (const [packetId, index] of inflight) {
      if (this.states[index] === "released") {
        pipe.send({ type: "pubrel", packetId, ...(pipe.version === 5 ? { reasonCode: 0 } : {}) });
      } else {
        this.#sendPublish(packetId, index, true);
      }
    }
    if (this.#inflight.size === 0) this.#finished?.();
    return Promise.race([done, pipe.closed]);
  }

  #fill(): void {
    while (this.#inflight.size < this.#window && this.#next < this.states.length) {
      const index = this.#next++;
      let id = this.#nextId;
      while (this.#inflight.has(id)) id = id === 65535 ? 1 : id + 1;
      this.#nextId = id === 65535 ? 1 : id + 1;
      this.#inflight.set(id, index);
      this.#sendPublish(id, index, false);
    }
    if (this.#inflight.size === 0 && this.#next >= this.states.length) this.#finished?.();
  }

  #sendPublish(packetId: number, index: number, dup: boolean): void {
    this.states[index] = "sent";
    this.#pipe!.send({
      type: "publish",
      topic: this.#topic,
      payload: this.#payload(index),
      qos: this.#qos,
      retain: false,
      dup,
      packetId,
    });
  }

  #handle(packet: Packet): void {
    const v5 = this.#pipe!.version === 5;
    switch (packet.type) {
      case "puback": {
        const index = this.#inflight.get(packet.packetId);
        if (index === undefined) return;
        this.#inflight.delete(packet.packetId);
        this.states[index] = "acked";
        this.#onAck(++this.#acked);
        this.#fill();
        return;
      }
      case "pubrec": {
        const index = this.#inflight.get(packet.packetId);
        if (index === undefined) return;
        if (this.states[index] === "sent") {
          this.states[index] = "released";
          this.#onAck(++this.#acked);
        }
        this.#pipe!.send({
          type: "pubrel",
          packetId: packet.packetId,
          ...(v5 ? { reasonCode: 0 } : {}),
        });
        return;
      }
      case "pubcomp": {
        const index = this.#inflight.get(packet.packetId);
        if (index === undefined) return;
        this.#inflight.delete(packet.packetId);
        this.states[index] = "completed";
        this.#fill();
        return;
      }
      default:
        return;
    }
  }
}
