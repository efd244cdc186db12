/**
 * A raw MQTT connection for tests that misbehave on purpose: it writes whatever bytes it is given
 * and parses what comes back with `npm:mqtt-packet` (MQTT.js's codec, not ours), so the
 * broker's answers are checked by a peer we did not write.
 *
 * Nothing is read from the socket until {@linkcode RawClient.readPacket} or
 * {@linkcode RawClient.waitForClose} is first called; a client that never calls them never reads,
 * which is how a test plays a consumer that has stopped reading.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import { DEFAULT_TIMEOUT_MS, withTimeout } from "./process.ts";

/** A packet as mqtt-packet parses or generates it (`cmd`, `messageId`, `reasonCode`, ...). */
export type RawPacket = mqttPacket.Packet;

/** Protocol level: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
export type RawVersion = 3 | 4 | 5;

/** Encodes `packet` with mqtt-packet for protocol level `version`. */
export function encodeRaw(packet: RawPacket, version: RawVersion): Uint8Array {
  return new Uint8Array(mqttPacket.generate(packet, { protocolVersion: version }));
}

/** A CONNECT packet object with the usual defaults. */
export function connectPacket(
  clientId: string,
  version: RawVersion,
  extra: Partial<mqttPacket.IConnectPacket> = {},
): RawPacket {
  return {
    cmd: "connect",
    protocolId: version === 3 ? "MQIsdp" : "MQTT",
    protocolVersion: version,
    clean: true,
    clientId,
    keepalive: 60,
    ...extra,
  };
}

/** A raw TCP connection to a broker. */
export class RawClient implements AsyncDisposable {
  readonly version: RawVersion;
  readonly #conn: Deno.TcpConn;
  readonly #parser: ReturnType<typeof mqttPacket.parser>;
  readonly #packets: RawPacket[] = [];
  #wake: (() => void) | undefined;
  #reading: Promise<void> | undefined;
  #closedByPeer = false;
  #closedByUs = false;
  #parseError: Error | undefined;

  private constructor(conn: Deno.TcpConn, version: RawVersion) {
    this.#conn = conn;
    this.version = version;
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on("packet", (packet: RawPacket) => {
      this.#packets.push(packet);
      this.#notify();
    });
    this.#parser.on("error", (error: Error) => {
      this.#parseError ??= error;
      this.#notify();
    });
  }

  /** Opens a TCP connection to `127.0.0.1:port`; `version` selects how replies are parsed. */
  static async open(port: number, version: RawVersion = 4): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawClient(conn, version);
  }

  /** Whether the broker has closed the connection (seen only while reading). */
  get closedByPeer(): boolean {
    return this.#closedByPeer;
  }

  /** Writes raw bytes; resolves false instead of throwing if the broker has closed. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
      return true;
    } catch (error) {
      if (
        error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset
      ) return false;
      throw error;
    }
  }

  /** Encodes `packet` for this client's protocol level and writes it. */
  send(packet: RawPacket): Promise<boolean> {
    return this.write(encodeRaw(packet, this.version));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #startReading(): void {
    this.#reading ??= (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await this.#conn.read(buffer);
          if (n === null) break;
          this.#parser.parse(Buffer.from(buffer.subarray(0, n)));
        }
      } catch (error) {
        // A reset is the broker closing hard; a bad resource is us closing while reading.
        if (
          !(error instanceof Deno.errors.ConnectionReset) &&
          !(error instanceof Deno.errors.BadResource) &&
          !(error instanceof Deno.errors.Interrupted)
        ) throw error;
      } finally {
        if (!this.#closedByUs) this.#closedByPeer = true;
        this.#notify();
      }
    })();
  }

  async #waitFor(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
    this.#startReading();
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.#parseError) {
        throw new Error(`Cannot parse the broker's reply: ${this.#parseError.message}`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
      await withTimeout(
        new Promise<void>((resolve) => this.#wake = resolve),
        remaining,
        what,
      ).catch(() => {});
    }
  }

  /** Resolves with the next packet from the broker; rejects if it closes first. */
  async readPacket(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawPacket> {
    await this.#waitFor(
      () => this.#packets.length > 0 || this.#closedByPeer,
      "a packet from the broker",
      timeoutMs,
    );
    const packet = this.#packets.shift();
    if (!packet) throw new Error("The broker closed the connection instead of answering");
    return packet;
  }

  /**
   * Reads until the broker closes the connection and returns the packets it sent before that;
   * rejects if it is still open after `timeoutMs`, naming `what` was sent.
   */
  async waitForClose(timeoutMs = DEFAULT_TIMEOUT_MS, what = ""): Promise<RawPacket[]> {
    await this.#waitFor(
      () => this.#closedByPeer,
      `the broker closing the connection${what ? ` (${what})` : ""}`,
      timeoutMs,
    );
    return this.#packets.splice(0);
  }

  /** Closes the connection (idempotent) and waits for the reader to stop. */
  async close(): Promise<void> {
    if (!this.#closedByUs) {
      this.#closedByUs = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    }
    await this.#reading;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
