/**
 * The load generator's side of the wire: raw TCP clients that speak just enough MQTT 3.1.1 to
 * connect and subscribe (with the project codec), then push pre-encoded bytes in large batched
 * writes and count what comes back by scanning frame headers, without decoding packets.
 *
 * Everything here is written so that the generator is not the bottleneck: one reused 64 KiB read
 * buffer per socket, no allocation per received frame, and no Promise per message.
 *
 * @module
 */

import { decodePacket, encodePacket, Framer } from "../codec/mod.ts";
import type { Packet, QoS } from "../codec/mod.ts";

/** Packet type numbers (high nibble of the first byte) the generator looks at. */
export const CONNACK = 2;
/** PUBLISH packet type. */
export const PUBLISH = 3;
/** PUBACK packet type. */
export const PUBACK = 4;
/** SUBACK packet type. */
export const SUBACK = 9;

/** Size of the one read buffer each hot socket reuses. */
export const READ_SIZE = 64 * 1024;

/**
 * Called for each complete frame when a {@linkcode FrameScanner} needs bodies: `bytes[start..end)`
 * is the body, valid only during the call (it may be the read buffer, which is reused).
 */
export type FrameHandler = (header: number, bytes: Uint8Array, start: number, end: number) => void;

/**
 * Counts MQTT frames in a byte stream by walking fixed headers; with a handler it also hands each
 * complete body over. Frames split across reads are handled: without a handler the rest of the
 * body is skipped, with one it is copied into a scratch buffer (one frame at most per read).
 *
 * @example
 * ```ts
 * import { FrameScanner, PUBLISH } from "./wire.ts";
 * const scanner = new FrameScanner();
 * const bytes = new Uint8Array([0x30, 0x03, 0x00, 0x01, 0x74, 0xd0, 0x00]);
 * scanner.push(bytes, 0, 4); // PUBLISH split after its fourth byte
 * scanner.push(bytes, 4, bytes.length);
 * scanner.counts[PUBLISH]; // 1
 * ```
 */
export class FrameScanner {
  /** Frames seen per packet type (index = first byte >> 4), counted once the header is read. */
  readonly counts: number[] = new Array(16).fill(0);
  readonly #onFrame: FrameHandler | undefined;
  /** Fixed header bytes of a frame whose header spans reads. */
  readonly #head = new Uint8Array(5);
  #headLength = 0;
  /** Body bytes still to skip (no handler). */
  #skip = 0;
  /** Body being assembled across reads (handler only). */
  #partial: Uint8Array | undefined;
  #partialFilled = 0;
  #partialHeader = 0;

  constructor(onFrame?: FrameHandler) {
    this.#onFrame = onFrame;
  }

  /** Scans `bytes[start..end)`; keeps no reference to `bytes` after it returns. */
  push(bytes: Uint8Array, start: number, end: number): void {
    let pos = start;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, end - pos);
      this.#skip -= n;
      pos += n;
      if (this.#skip > 0) return;
    }
    if (this.#partial !== undefined) {
      const partial = this.#partial;
      const n = Math.min(partial.length - this.#partialFilled, end - pos);
      partial.set(bytes.subarray(pos, pos + n), this.#partialFilled);
      this.#partialFilled += n;
      pos += n;
      if (this.#partialFilled < partial.length) return;
      this.#partial = undefined;
      this.#onFrame!(this.#partialHeader, partial, 0, partial.length);
    }
    if (this.#headLength > 0) {
      const head = this.#head;
      let done = false;
      while (pos < end) {
        const byte = bytes[pos++]!;
        head[this.#headLength++] = byte;
        if ((byte & 0x80) === 0) {
          done = true;
          break;
        }
        if (this.#headLength === 5) throw new Error("Cannot scan frame: Remaining Length too long");
      }
      if (!done) return;
      let length = 0;
      let multiplier = 1;
      for (let i = 1; i < this.#headLength; i++) {
        length += (head[i]! & 0x7f) * multiplier;
        multiplier *= 128;
      }
      this.#headLength = 0;
      pos = this.#body(head[0]!, length, bytes, pos, end);
      if (pos < 0) return;
    }
    const counts = this.counts;
    const onFrame = this.#onFrame;
    while (pos < end) {
      const header = bytes[pos]!;
      let p = pos + 1;
      let length = 0;
      let multiplier = 1;
      let complete = false;
      while (p < end) {
        const byte = bytes[p++]!;
        length += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        multiplier *= 128;
        if (p - pos > 4) throw new Error("Cannot scan frame: Remaining Length too long");
      }
      if (!complete) {
        this.#head.set(bytes.subarray(pos, end));
        this.#headLength = end - pos;
        return;
      }
      if (end - p >= length) {
        counts[header >> 4]!++;
        if (onFrame !== undefined) onFrame(header, bytes, p, p + length);
        pos = p + length;
      } else {
        pos = this.#body(header, length, bytes, p, end);
        if (pos < 0) return;
      }
    }
  }

  /** Handles a body starting at `pos`; returns where scanning goes on, or -1 if it spans reads. */
  #body(header: number, length: number, bytes: Uint8Array, pos: number, end: number): number {
    this.counts[header >> 4]!++;
    if (end - pos >= length) {
      this.#onFrame?.(header, bytes, pos, pos + length);
      return pos + length;
    }
    if (this.#onFrame === undefined) {
      this.#skip = length - (end - pos);
      return -1;
    }
    const partial = new Uint8Array(length);
    partial.set(bytes.subarray(pos, end));
    this.#partial = partial;
    this.#partialFilled = end - pos;
    this.#partialHeader = header;
    return -1;
  }
}

/** Writes all of `bytes`, looping over partial writes. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** What {@linkcode openClient} does after connecting. */
export interface OpenClientOptions {
  /** Client identifier; must be unique per broker. */
  clientId: string;
  /** Keep Alive in seconds (0 = off). */
  keepalive?: number;
  /** Topic filter to subscribe to before returning. */
  subscribe?: { topicFilter: string; qos: QoS };
  /** A CONNECT encoded beforehand; `clientId` is then only used in messages. */
  connect?: Uint8Array;
}

/** Encodes an MQTT 3.1.1 clean-session CONNECT. */
export function encodeConnect(clientId: string, keepalive: number): Uint8Array {
  return encodePacket({
    type: "connect",
    protocolName: "MQTT",
    protocolVersion: 4,
    clean: true,
    keepalive,
    clientId,
  }, 4);
}

/**
 * Reads packets with the project's {@linkcode Framer} until `want` arrives; used only for
 * handshakes, never on the hot path. Throws if the peer closes first.
 */
async function readUntil(
  conn: Deno.Conn,
  framer: Framer,
  want: Packet["type"],
  what: string,
): Promise<Packet> {
  const buffer = new Uint8Array(256);
  for (;;) {
    const frame = framer.next();
    if (frame !== undefined) {
      const packet = decodePacket(frame, 4);
      if (packet.type === want) return packet;
      continue;
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Cannot ${what}: the broker closed the connection`);
    framer.push(buffer.slice(0, n));
  }
}

/**
 * Connects to `127.0.0.1:port`, sends CONNECT, waits for a successful CONNACK and, if asked,
 * subscribes. Returns the open connection with nothing left unread.
 */
export async function openClient(port: number, options: OpenClientOptions): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port, transport: "tcp" });
  try {
    conn.setNoDelay(true);
    const framer = new Framer();
    await writeAll(
      conn,
      options.connect ?? encodeConnect(options.clientId, options.keepalive ?? 60),
    );
    const connack = await readUntil(conn, framer, "connack", `connect "${options.clientId}"`);
    if (connack.type === "connack" && connack.reasonCode !== 0) {
      throw new Error(
        `Cannot connect "${options.clientId}": CONNACK return code ${connack.reasonCode}`,
      );
    }
    if (options.subscribe !== undefined) {
      await writeAll(
        conn,
        encodePacket({
          type: "subscribe",
          packetId: 1,
          subscriptions: [{
            topicFilter: options.subscribe.topicFilter,
            qos: options.subscribe.qos,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          }],
        }, 4),
      );
      const suback = await readUntil(conn, framer, "suback", `subscribe "${options.clientId}"`);
      if (suback.type === "suback" && (suback.reasonCodes[0] ?? 0x80) >= 0x80) {
        throw new Error(`Cannot subscribe "${options.clientId}": SUBACK refused`);
      }
    }
    if (framer.bufferedBytes !== 0) {
      throw new Error(`Cannot start "${options.clientId}": unexpected bytes after handshake`);
    }
    return conn;
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
}

/** Closes a connection, ignoring a connection that is already closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads `conn` into one reused buffer until it closes or `isRunning()` turns false, feeding every
 * chunk to `scanner`; `afterChunk` runs once per read (where counters are compared and waiting
 * publishers woken). Resolves when the loop ends; read errors after a close are expected.
 */
export async function readLoop(
  conn: Deno.Conn,
  scanner: FrameScanner,
  afterChunk: () => void,
  isRunning: () => boolean,
): Promise<void> {
  const buffer = new Uint8Array(READ_SIZE);
  try {
    while (isRunning()) {
      const n = await conn.read(buffer);
      if (n === null) return;
      scanner.push(buffer, 0, n);
      afterChunk();
    }
  } catch {
    // The harness closed the socket to stop the loop, or the broker went away.
  }
}

/** A one-shot wake-up for loops that wait for the other side (no Promise per message). */
export class Signal {
  #waiters: (() => void)[] = [];

  /** Resolves at the next {@linkcode Signal.notify}. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** True when some loop waits. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** Wakes every waiting loop. */
  notify(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Bounds the messages published but not yet delivered, counted in deliveries (a message to 100
 * subscribers is 100 expected deliveries), so every broker runs at a rate it can sustain instead
 * of building an ever-growing queue. Publishers {@linkcode Flow.reserve} before each batch; the
 * readers report {@linkcode Flow.deliver}. A broker may drop QoS 0 messages, so a watchdog
 * (see {@linkcode Flow.check}) writes off what has not arrived after a stall, counting it in
 * `lost`.
 */
export class Flow {
  /** Deliveries expected from what was published. */
  expected = 0;
  /** Deliveries counted. */
  delivered = 0;
  /** Deliveries written off after stalls. */
  lost = 0;
  /** Stalls: windows in which nothing arrived while publishers waited. */
  stalls = 0;
  readonly limit: number;
  readonly #signal = new Signal();
  #lastDelivered = -1;

  /** `limit`: most deliveries outstanding at once. */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Deliveries outstanding. */
  get outstanding(): number {
    return this.expected - this.delivered - this.lost;
  }

  /** Waits until `n` more deliveries fit in the window, then counts them as expected. */
  async reserve(n: number, isRunning: () => boolean): Promise<void> {
    while (isRunning() && this.outstanding + n > this.limit) await this.#signal.wait();
    this.expected += n;
  }

  /** Counts `n` deliveries; wakes publishers once half the window has drained. */
  deliver(n: number): void {
    this.delivered += n;
    if (this.#signal.waiting && this.outstanding <= this.limit / 2) this.#signal.notify();
  }

  /** Called periodically: if publishers wait and nothing arrived since the last call, write off. */
  check(): void {
    if (this.#signal.waiting && this.delivered === this.#lastDelivered) {
      this.stalls++;
      this.lost += this.outstanding;
      this.#signal.notify();
    }
    this.#lastDelivered = this.delivered;
  }

  /** Wakes every waiting publisher, e.g. to let it see that the run is over. */
  wakeAll(): void {
    this.#signal.notify();
  }
}
