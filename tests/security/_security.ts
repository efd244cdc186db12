/**
 * Helpers for the security tests: a broker configured from `mosquitto.conf` text with its files
 * in a temporary directory, in-memory clients on a configured listener, certificates made by
 * `openssl`, a log that records lines, and memory readings.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { Broker } from "../../broker/broker.ts";
import { BrokerListener } from "../../broker/broker_listener.ts";
import {
  brokerOptionsFromConfig,
  listenerSettingsFromConfig,
  loadTlsSupport,
  usesTls,
} from "../../broker/config/apply.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import type { BrokerConfig } from "../../broker/config/types.ts";
import type { BrokerOptions } from "../../broker/options.ts";
import type { ConnackPacket, ConnectPacket, ProtocolVersion } from "../../codec/types.ts";
import { MemoryClient } from "../_helpers/memory_client.ts";
import { runProcess } from "../_helpers/process.ts";

/** A LogTape-shaped logger that keeps every line as `level message`. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly logger: Logger;

  constructor() {
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
    this.logger = logger as unknown as Logger;
  }

  /** Lines matching `pattern`. */
  matching(pattern: RegExp): string[] {
    return this.lines.filter((line) => pattern.test(line));
  }
}

/** A temporary directory, removed on dispose. */
export class TempDir implements AsyncDisposable {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates one. */
  static async create(): Promise<TempDir> {
    return new TempDir(await Deno.makeTempDir({ prefix: "midge_security_" }));
  }

  /** Writes `text` to `name` in the directory and returns its path. */
  write(name: string, text: string): string {
    const path = `${this.path}/${name}`;
    Deno.writeTextFileSync(path, text);
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true });
  }
}

/** A broker configured from text, and an unbound listener made from its first listener. */
export interface ConfiguredBroker extends AsyncDisposable {
  readonly broker: Broker;
  readonly config: BrokerConfig;
  readonly log: LogCapture;
  /** A listener with the first configured listener's settings, for in-memory clients. */
  readonly listener: BrokerListener;
  /** Connects an in-memory client through {@linkcode listener} and waits for CONNACK. */
  connect(
    connect?: Partial<ConnectPacket> & { protocolVersion?: ProtocolVersion },
  ): Promise<{ client: MemoryClient; connack: ConnackPacket }>;
  /** Opens an in-memory connection through {@linkcode listener} without sending anything. */
  open(version?: ProtocolVersion): MemoryClient;
}

/**
 * Parses `text` (a `mosquitto.conf`) and creates a broker with its options; no socket is bound
 * unless `bind` is set, in which case the broker applies the config (listeners open).
 */
export async function configureBroker(
  text: string,
  options: BrokerOptions & { bind?: boolean } = {},
): Promise<ConfiguredBroker> {
  const { bind = false, ...brokerOptions } = options;
  const config = parseConfig(text, { file: "test.conf" });
  if (usesTls(config)) await loadTlsSupport();
  const log = new LogCapture();
  const broker = new Broker({
    ...brokerOptionsFromConfig(config),
    sysInterval: 0,
    log: log.logger,
    ...brokerOptions,
  });
  const first = config.listeners[0];
  if (first === undefined) throw new Error("Cannot configure test broker: no listener");
  const listener = new BrokerListener(
    { protocol: first.protocol, port: first.port },
    listenerSettingsFromConfig(config, first),
  );
  if (bind) {
    try {
      await broker.applyConfig(config);
    } catch (error) {
      await broker.close();
      throw error;
    }
  }
  const open = (version: ProtocolVersion = 4) => {
    const client = new MemoryClient(version);
    broker.handleTransport(client, listener);
    return client;
  };
  return {
    broker,
    config,
    log,
    listener,
    open,
    async connect(connect = {}) {
      const version = connect.protocolVersion ?? 4;
      const client = open(version);
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
    },
    async [Symbol.asyncDispose]() {
      await broker.close();
    },
  };
}

/** Made with `mosquitto_passwd -b` (2.0.11): alice/secret ($7$) and bob/hunter2 ($6$). */
export const PASSWORD_FILE = [
  "alice:$7$101$CZgVYkikZVMXVnCr$O9A2K1rI8rp0C1Hfq+kPtl0GzG/oJi0d86HP0vDU6XtQvhE9G6IWKOoG8bv6Kv0ps7MJ3Sizw6Tz1vzEgO+Wpw==",
  "bob:$6$F5KSjhEgtvR3eNoN$cmeQpwJ1ljRN3RBwoZJMGKvwAQKsBink1BV9aFukzBzunBKwCcB0mzBb8aChoHJlT65mblxArXpRIxcEMG0fUQ==",
  "",
].join("\n");

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Certificates made by `openssl` for one test run. */
export interface Certificates {
  /** The CA that signed everything below. */
  ca: string;
  /** Server certificate for `localhost` and 127.0.0.1, and its key. */
  serverCert: string;
  serverKey: string;
  /** A second server certificate (CN "renewed"), for reload tests. */
  renewedCert: string;
  renewedKey: string;
  /** Client certificate CN=alice, O=house, and its key. */
  clientCert: string;
  clientKey: string;
  /** A client certificate from a CA the broker does not trust. */
  strangerCert: string;
  strangerKey: string;
}

async function openssl(args: string[]): Promise<void> {
  const result = await runProcess("openssl", args, { timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed:\n${result.stderr.join("\n")}`);
  }
}

/**
 * Makes a CA, server and client certificates in `dir` with `openssl` (RSA 2048, X.509 v3: rustls
 * refuses v1 certificates).
 */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const path = (name: string) => `${dir}/${name}`;
  const ca = async (name: string, subject: string) => {
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      subject,
      "-keyout",
      path(`${name}.key`),
      "-out",
      path(`${name}.crt`),
    ]);
  };
  const leaf = async (name: string, issuer: string, subject: string, extensions: string) => {
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      subject,
      "-keyout",
      path(`${name}.key`),
      "-out",
      path(`${name}.csr`),
    ]);
    Deno.writeTextFileSync(path(`${name}.ext`), extensions);
    await openssl([
      "x509",
      "-req",
      "-in",
      path(`${name}.csr`),
      "-CA",
      path(`${issuer}.crt`),
      "-CAkey",
      path(`${issuer}.key`),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      path(`${name}.ext`),
      "-out",
      path(`${name}.crt`),
    ]);
  };
  const server = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
  const client = "extendedKeyUsage=clientAuth\n";
  await ca("ca", "/CN=midge test CA");
  await ca("stranger-ca", "/CN=stranger CA");
  await leaf("server", "ca", "/CN=localhost", server);
  await leaf("renewed", "ca", "/CN=renewed", server);
  await leaf("client", "ca", "/CN=alice/O=house", client);
  await leaf("stranger", "stranger-ca", "/CN=mallory", client);
  return {
    ca: path("ca.crt"),
    serverCert: path("server.crt"),
    serverKey: path("server.key"),
    renewedCert: path("renewed.crt"),
    renewedKey: path("renewed.key"),
    clientCert: path("client.crt"),
    clientKey: path("client.key"),
    strangerCert: path("stranger.crt"),
    strangerKey: path("stranger.key"),
  };
}

/** Resident memory of this process in MiB, one decimal, after a garbage collection if exposed. */
export function rssMiB(): number {
  // deno-lint-ignore no-explicit-any
  (globalThis as any).gc?.();
  return Math.round(Deno.memoryUsage().rss / 1024 / 102.4) / 10;
}

/** V8 heap in use in MiB, one decimal. */
export function heapMiB(): number {
  return Math.round(Deno.memoryUsage().heapUsed / 1024 / 102.4) / 10;
}
