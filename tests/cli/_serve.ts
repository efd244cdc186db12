/**
 * Helpers for the `midge` broker command tests: spawning `main.ts` with a config file,
 * atomically rewriting that file, Mosquitto's client tools, and a minimal MQTT-over-WebSocket
 * client whose packets are parsed by `npm:mqtt-packet`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import {
  type ChildProcess,
  DEFAULT_TIMEOUT_MS,
  runProcess,
  type RunResult,
  spawnProcess,
  withTimeout,
} from "../_helpers/process.ts";
import { connectPacket, encodeRaw, type RawPacket } from "../_helpers/raw_mqtt.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Spawns `midge <args>` (the broker command of `main.ts`); dispose it to stop it. */
export function spawnServe(args: readonly string[]): ChildProcess {
  return spawnProcess(Deno.execPath(), ["run", "-A", "--quiet", MAIN, ...args]);
}

/** Runs `midge <args>` to completion, e.g. for start-up failures. */
export function runServe(args: readonly string[]): Promise<RunResult> {
  return runProcess(Deno.execPath(), ["run", "-A", "--quiet", MAIN, ...args]);
}

/** Waits for the stderr line at index >= `from` that matches `pattern`. */
export function waitForLog(
  broker: ChildProcess,
  pattern: RegExp | string,
  from = 0,
): Promise<string> {
  return broker.waitForLine(
    typeof pattern === "string" ? (line) => stripTimestamp(line) === pattern : pattern,
    { stream: "stderr", from },
  );
}

/** A log line without Mosquitto's `1600219959: ` prefix. */
export function stripTimestamp(line: string): string {
  return line.replace(/^\d+: /, "");
}

/**
 * Writes `lines` to `path` by renaming a finished temporary file over it, so that a `--watch`
 * check never reads a half-written file.
 */
export async function writeConfig(path: string, lines: readonly string[]): Promise<void> {
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, lines.join("\n") + "\n");
  await Deno.rename(temporary, path);
}

/** A temporary directory removed on dispose. */
export async function makeTempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "midge_serve_config_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Runs `mosquitto_pub -h 127.0.0.1 -p PORT <args>` to completion. */
export function mosquittoPub(port: number, args: readonly string[]): Promise<RunResult> {
  return runProcess("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), ...args]);
}

/**
 * Starts `mosquitto_sub -d -h 127.0.0.1 -p PORT <args>` and waits for its SUBACK; dispose it to
 * stop it.
 */
export async function mosquittoSub(port: number, args: readonly string[]): Promise<ChildProcess> {
  const sub = spawnProcess(
    "mosquitto_sub",
    ["-d", "-h", "127.0.0.1", "-p", String(port), ...args],
    { lineBuffered: true },
  );
  try {
    await sub.waitForLine(/^Subscribed \(mid: \d+\)/);
  } catch (error) {
    await sub.close();
    throw error;
  }
  return sub;
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted. */
export async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** An MQTT 5 client over WebSocket (subprotocol "mqtt"), for `protocol websockets` listeners. */
export class WsMqttClient implements AsyncDisposable {
  readonly #socket: WebSocket;
  readonly #packets: RawPacket[] = [];
  #wake: (() => void) | undefined;
  #isClosed = false;
  /** Resolves when the socket has closed, whoever closed it. */
  readonly closed: Promise<void>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on("packet", (packet: RawPacket) => {
      this.#packets.push(packet);
      this.#wake?.();
    });
    socket.onmessage = (event) => parser.parse(Buffer.from(event.data as ArrayBuffer));
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", () => {
        this.#isClosed = true;
        resolve();
        this.#wake?.();
      }, { once: true });
    });
  }

  /** Opens `ws://127.0.0.1:PORT/mqtt`, sends CONNECT and waits for a successful CONNACK. */
  static async connect(port: number, clientId: string): Promise<WsMqttClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, "mqtt");
    socket.binaryType = "arraybuffer";
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = () => reject(new Error(`Cannot open WebSocket to port ${port}`));
      }),
      DEFAULT_TIMEOUT_MS,
      `WebSocket to port ${port}`,
    );
    const client = new WsMqttClient(socket);
    client.send(connectPacket(clientId, 5));
    const connack = await client.next("connack");
    if (connack.cmd !== "connack" || connack.reasonCode !== 0) {
      await client.close();
      throw new Error(`CONNACK refused: ${JSON.stringify(connack)}`);
    }
    return client;
  }

  /** Sends one packet. */
  send(packet: RawPacket): void {
    this.#socket.send(encodeRaw(packet, 5));
  }

  /** Publishes at QoS 0. */
  publish(topic: string, payload: string): void {
    this.send({ cmd: "publish", topic, payload, qos: 0, dup: false, retain: false });
  }

  /** Removes and returns the first received packet of type `cmd`, waiting for it. */
  async next(cmd: RawPacket["cmd"]): Promise<RawPacket> {
    const take = () => {
      const index = this.#packets.findIndex((packet) => packet.cmd === cmd);
      return index < 0 ? undefined : this.#packets.splice(index, 1)[0];
    };
    const found = take();
    if (found) return found;
    if (this.#isClosed) throw new Error(`WebSocket closed before a ${cmd} packet`);
    return await withTimeout(
      new Promise<RawPacket>((resolve, reject) => {
        this.#wake = () => {
          const packet = take();
          if (packet) resolve(packet);
          else if (this.#isClosed) reject(new Error(`WebSocket closed before a ${cmd} packet`));
        };
      }),
      DEFAULT_TIMEOUT_MS,
      `a ${cmd} packet over WebSocket`,
    ).finally(() => this.#wake = undefined);
  }

  /** Closes the socket and waits until it is closed. */
  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close();
    if (this.#socket.readyState !== WebSocket.CLOSED) {
      await withTimeout(this.closed, DEFAULT_TIMEOUT_MS, "WebSocket close");
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
