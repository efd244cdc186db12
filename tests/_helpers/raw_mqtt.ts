/**
 * A raw MQTT connection for tests that misbehave on purpose: it writes whatever bytes it is given
 * and parses what comes back with `npm:mqtt-packet` (MQTT.js's codec, not ours), so the
 * broker's answers are checked by a peer we did not write.
 *
 * The socket is read only while {@linkcode RawClient.readPacket} or
 * {@linkcode RawClient.waitForClose} waits; a client that stops calling them stops reading (after
 * at most one pending read of 64 KiB), which is how a test plays a consumer that has stopped
 * reading.
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
  readonly #buffer = new Uint8Array(64 * 1024);
  #inFlight: Promise<void> | undefined;
  #closedByPeer = false;
  #closedByUs = false;
  #parseError: Error | undefined;

  private constructor(conn: Deno.TcpConn, version: RawVersion) {
    this.#conn = conn;
    this.version = version;
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on("packet", (packet: RawPacket) => this.#packets.push(packet));
    this.#parser.on("error", (error: Error) => this.#parseError ??= error);
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

  /**
   * One read from the socket, parsed; shared by concurrent callers. Reading only on demand is
   * what lets a test stop reading: after its last wait, at most this one read is pending.
   */
  #readOnce(): Promise<void> {
    this.#inFlight ??= (async () => {
      try {
        const n = await this.#conn.read(this.#buffer);
        if (n === null) this.#peerClosed();
        // Buffer.from copies, so the read buffer can be reused.
        else this.#parser.parse(Buffer.from(this.#buffer.subarray(0, n)));
      } catch (error) {
        // A reset is the broker closing hard; a bad resource is us closing while reading.
        if (
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.BadResource ||
          error instanceof Deno.errors.Interrupted
        ) this.#peerClosed();
        else throw error;
      } finally {
        this.#inFlight = undefined;
      }
    })();
    return this.#inFlight;
  }

  #peerClosed(): void {
    if (!this.#closedByUs) this.#closedByPeer = true;
  }

  async #waitFor(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.#parseError) {
        throw new Error(`Cannot parse the broker's reply: ${this.#parseError.message}`);
      }
      if (this.#closedByPeer || this.#closedByUs) {
        throw new Error(`Connection closed while waiting for ${what}`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
      await withTimeout(this.#readOnce(), remaining, what);
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
    await this.#inFlight;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
