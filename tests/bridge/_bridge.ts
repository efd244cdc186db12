/**
 * Helpers for the bridge tests: an in-process midge with bridges from mosquitto.conf text and a
 * log that tests can read, an MQTT client that collects what it receives, and certificates.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { Broker } from "../../broker/broker.ts";
import type { BrokerOptions } from "../../broker/options.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import type { BridgeConfig } from "../../broker/config/types.ts";
import { MqttClient, type MqttClientOptions, type ReceivedMessage } from "../../client/client.ts";
import type { ProtocolVersion, QoS } from "../../codec/types.ts";
import { runProcess, spawnProcess, waitUntil } from "../_helpers/process.ts";

/** Log lines a broker wrote, for assertions. */
export class LogLines {
  readonly lines: string[] = [];

  /** A LogTape-shaped logger that records each line as `LEVEL line`. */
  readonly logger: Logger = (() => {
    const record = (level: string) => (message: unknown) => {
      this.lines.push(`${level} ${String(message)}`);
    };
    const logger = {
      debug: record("debug"),
      info: record("info"),
      warn: record("warning"),
      warning: record("warning"),
      error: record("error"),
      fatal: record("fatal"),
      trace: record("trace"),
      getChild: () => logger,
      with: () => logger,
    };
    return logger as unknown as Logger;
  })();

  /** Lines matching `pattern`. */
  matching(pattern: RegExp): string[] {
    return this.lines.filter((line) => pattern.test(line));
  }

  /** Waits for `count` lines matching `pattern`. */
  async waitFor(pattern: RegExp, count = 1, timeoutMs = 15_000): Promise<string[]> {
    try {
      await waitUntil(() => this.matching(pattern).length >= count, "", timeoutMs);
    } catch {
      throw new Error(
        `Timed out after ${timeoutMs} ms: ${count} log lines matching ${pattern}; got:\n${
          this.lines.join("\n")
        }`,
      );
    }
    return this.matching(pattern);
  }
}

/** An in-process midge on a loopback port; dispose it to close it. */
export interface TestMidge extends AsyncDisposable {
  readonly broker: Broker;
  readonly port: number;
  readonly log: LogLines;
  close(): Promise<void>;
}

/** The bridges of `mosquitto.conf` text (only bridge sections are read). */
export function bridgeConfigs(text: string): BridgeConfig[] {
  return parseConfig(text, { file: "bridge.conf" }).bridges;
}

/** Starts midge on 127.0.0.1 with the bridges of `bridgeText`, if any. */
export async function startMidge(
  bridgeText = "",
  options: BrokerOptions = {},
): Promise<TestMidge> {
  const log = new LogLines();
  const broker = new Broker({ log: log.logger, ...options });
  const [listener] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
  let closed: Promise<void> | undefined;
  const close = () => closed ??= broker.close();
  try {
    if (bridgeText !== "") await broker.bridges.apply(bridgeConfigs(bridgeText));
  } catch (error) {
    await close();
    throw error;
  }
  return {
    broker,
    port: listener!.port,
    log,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A connected client that collects every message it receives. */
export class Collector implements AsyncDisposable {
  readonly client: MqttClient;
  readonly messages: ReceivedMessage[] = [];

  private constructor(client: MqttClient) {
    this.client = client;
    client.onMessage((message) => this.messages.push(message));
  }

  /** Connects to `port` and subscribes to `filters` at QoS `qos`. */
  static async subscribe(
    port: number,
    filters: string[],
    { qos = 2, protocolVersion = 5, ...options }:
      & { qos?: QoS; protocolVersion?: ProtocolVersion }
      & MqttClientOptions = {},
  ): Promise<Collector> {
    const client = new MqttClient({
      hostname: "127.0.0.1",
      port,
      protocolVersion,
      ...(protocolVersion === 5
        ? {}
        : { clientId: `collector-${crypto.randomUUID().slice(0, 8)}` }),
      ...options,
    });
    const collector = new Collector(client);
    await client.connect();
    if (filters.length > 0) {
      await client.subscribe(filters.map((topicFilter) => ({ topicFilter, qos })));
    }
    return collector;
  }

  /** `topic payload` of each message, in order. */
  get texts(): string[] {
    return this.messages.map((m) => `${m.topic} ${new TextDecoder().decode(m.payload)}`);
  }

  /** Waits until `count` messages have arrived. */
  async waitFor(count: number, timeoutMs = 15_000): Promise<string[]> {
    await waitUntil(
      () => this.messages.length >= count,
      `${count} messages; got ${this.messages.length}: ${this.texts.slice(-5).join(", ")}`,
      timeoutMs,
    );
    return this.texts;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.disconnect();
  }
}

/** Connects a plain publishing client. */
export async function publisher(
  port: number,
  protocolVersion: ProtocolVersion = 4,
  clientId = `pub-${crypto.randomUUID().slice(0, 8)}`,
): Promise<MqttClient & AsyncDisposable> {
  const client = new MqttClient({ hostname: "127.0.0.1", port, protocolVersion, clientId });
  await client.connect();
  return client;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in a temporary folder. */
export interface TestCertificates extends AsyncDisposable {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed none of them. */
  readonly otherCaFile: string;
  /** A server certificate of the CA for the name other.example only, and its key. */
  readonly wrongNameCert: string;
  readonly wrongNameKey: string;
}

/** Makes certificates with `openssl` (as a cloud endpoint's: a CA, server and client certs). */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "midge_bridge_tls_" });
  const openssl = async (...args: string[]) => {
    const result = await runProcess("openssl", args);
    if (result.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`);
  };
  const ca = async (name: string) => {
    await openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${dir}/${name}.key`,
      "-out",
      `${dir}/${name}.crt`,
    );
  };
  const signed = async (name: string, extensions: string) => {
    await openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${dir}/${name}.key`,
      "-out",
      `${dir}/${name}.csr`,
    );
    await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
    await openssl(
      "x509",
      "-req",
      "-in",
      `${dir}/${name}.csr`,
      "-CA",
      `${dir}/ca.crt`,
      "-CAkey",
      `${dir}/ca.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${dir}/${name}.ext`,
      "-out",
      `${dir}/${name}.crt`,
    );
  };
  await ca("ca");
  await ca("other-ca");
  await signed(
    "server",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await signed("client", "extendedKeyUsage=clientAuth\n");
  await signed("wrongname", "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n");
  return {
    dir,
    caFile: `${dir}/ca.crt`,
    serverCert: `${dir}/server.crt`,
    serverKey: `${dir}/server.key`,
    clientCert: `${dir}/client.crt`,
    clientKey: `${dir}/client.key`,
    otherCaFile: `${dir}/other-ca.crt`,
    wrongNameCert: `${dir}/wrongname.crt`,
    wrongNameKey: `${dir}/wrongname.key`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A running `mosquitto_sub` printing `MSG topic payload qQOS rRETAIN` lines. */
export interface MosquittoSub extends AsyncDisposable {
  /** `topic payload qQOS rRETAIN` of each message so far. */
  readonly messages: string[];
  /** Waits until `count` messages have arrived; returns them. */
  waitFor(count: number): Promise<string[]>;
}

/**
 * Starts `mosquitto_sub` on `port` for `topics` at QoS 2 (with `extraArgs`, e.g. for TLS) and
 * waits for its SUBACK.
 */
export async function mosquittoSub(
  port: number,
  topics: string[],
  extraArgs: string[] = [],
): Promise<MosquittoSub> {
  const child = spawnProcess(
    "mosquitto_sub",
    [
      "-d",
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-q",
      "2",
      "-F",
      "MSG %t %p q%q r%r",
      ...topics.flatMap((topic) => ["-t", topic]),
      ...extraArgs,
    ],
    { lineBuffered: true },
  );
  try {
    await child.waitForLine(/^Subscribed \(mid: \d+\)/);
  } catch (error) {
    await child.close();
    throw error;
  }
  const messages = () =>
    child.stdout.filter((line) => line.startsWith("MSG ")).map((l) => l.slice(4));
  return {
    get messages() {
      return messages();
    },
    async waitFor(count: number) {
      await waitUntil(
        () => messages().length >= count,
        `${count} messages at mosquitto_sub; got ${messages().join(", ")}`,
      );
      return messages();
    },
    [Symbol.asyncDispose]: () => child.close(),
  };
}

/** Runs `mosquitto_pub` on `port` with `args` and fails on a non-zero exit. */
export async function mosquittoPub(port: number, args: string[]): Promise<void> {
  const result = await runProcess("mosquitto_pub", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    ...args,
  ]);
  if (result.code !== 0) throw new Error(`mosquitto_pub ${args.join(" ")}: ${result.stderr}`);
}

/** A Mosquitto on a port chosen by the test, optionally with persistence; dispose to stop it. */
export interface PortMosquitto extends AsyncDisposable {
  readonly port: number;
  /** Stops it with SIGTERM (Mosquitto saves its persistence file then). */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `mosquitto` on 127.0.0.1:`port` with `lines` added to its config, and waits
 * until it accepts connections.
 */
export async function startMosquittoOn(
  port: number,
  dir: string,
  lines: string[] = [],
): Promise<PortMosquitto> {
  const configPath = `${dir}/mosquitto-${port}.conf`;
  await Deno.writeTextFile(
    configPath,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      // The tests run as root; Mosquitto would otherwise switch to the "mosquitto" user.
      "user root",
      "log_dest stderr",
      "log_type error",
      ...lines,
    ].join("\n") + "\n",
  );
  const child = spawnProcess("mosquitto", ["-c", configPath]);
  const stop = () => child.close();
  try {
    for (let i = 0;; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        break;
      } catch {
        if (child.exited || i > 500) {
          throw new Error(`mosquitto did not start on ${port}:\n${child.describeOutput()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop, [Symbol.asyncDispose]: stop };
}
