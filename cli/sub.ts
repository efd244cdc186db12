/**
 * `midge sub`: subscribes and prints messages like `mosquitto_sub`, with the same flags, output
 * formats and exit codes, on midge's own client.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { MqttClient, type ReceivedMessage } from "../client/client.ts";
import { topicMatches } from "../client/topic_match.ts";
import { isValidTopicFilter } from "../codec/topic.ts";
import type { Properties } from "../codec/types.ts";
import {
  type ConnectionFlags,
  parseInteger,
  parseQos,
  reportConnectError,
  reportUsageError,
  resolveConnection,
  UsageError,
  writeError,
  writeLine,
  writeStdout,
} from "./client_options.ts";
import { FormatError, formatMessage } from "./sub_format.ts";

/** Flags of `midge sub` as commander parses them (single-letter flags keep their letter). */
export interface SubFlags extends ConnectionFlags {
  topic?: string[];
  T?: string[];
  U?: string[];
  qos?: string;
  verbose?: boolean;
  C?: string;
  E?: boolean;
  F?: string;
  N?: boolean;
  R?: boolean;
  W?: string;
  retainedOnly?: boolean;
  removeRetained?: boolean;
}

/** Exit code of mosquitto_sub after `-W` expires: libmosquitto's MOSQ_ERR_TIMEOUT. */
const EXIT_TIMEOUT = 27;

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * The `sub` subcommand. Mosquitto uses `-h` for the host, so help is `--help` only.
 *
 * @example
 * ```ts ignore
 * import { Command } from "@commander-js/extra-typings";
 * import { subCommand } from "./sub.ts";
 * await new Command("midge").addCommand(subCommand()).parseAsync(["sub", "-t", "#", "-v"], {
 *   from: "user",
 * });
 * ```
 */
export function subCommand() {
  return new Command("sub")
    .description("Subscribe and print messages (mosquitto_sub compatible)")
    .helpOption("--help", "display this message")
    .option("-h, --host <host>", "broker host (default localhost)")
    .option("-p, --port <port>", "broker port (default 1883)")
    .option("-L, --url <url>", "mqtt://[username[:password]@]host[:port]/topic")
    .option("-t, --topic <topic>", "topic filter to subscribe to (repeatable)", collect, [])
    .option("-T <filter>", "do not print messages on topics matching this filter", collect, [])
    .option("-U <filter>", "unsubscribe from this topic filter (repeatable)", collect, [])
    .option("-q, --qos <qos>", "QoS of the subscriptions (default 0)")
    .option("-v, --verbose", "print the topic before the payload")
    .option("-F <format>", "output format: %t topic, %p payload, %q, %r, %l, %m, %x, %j ...")
    .option("-N", "do not print a newline after each message")
    .option("-C <count>", "exit after printing this many messages")
    .option("-E", "exit once the subscriptions are acknowledged")
    .option("-R", "do not print retained (stale) messages")
    .option("-W <seconds>", "exit after this many seconds")
    .option("--retained-only", "print only retained messages; exit at the first other one")
    .option("--remove-retained", "clear each retained message received")
    .option("-u, --username <username>", "user name")
    .option("-P, --pw <password>", "password")
    .option("-i, --id <id>", "client id (default random; MQTT 5: assigned by the broker)")
    .option("-I, --id-prefix <prefix>", "client id prefix, the process id is appended")
    .option("-k, --keepalive <seconds>", "keep alive in seconds (default 60)")
    .option("-c, --disable-clean-session", "keep the session after disconnecting")
    .option("-x <seconds>", "MQTT 5 session expiry interval (-1 for never)")
    .option("-V, --protocol-version <version>", "mqttv31, mqttv311 (default) or mqttv5")
    .option(
      "-D, --property <args...>",
      "MQTT 5 property: command identifier value, e.g. -D subscribe user-property name value",
    )
    .option("--will-topic <topic>", "topic of the will")
    .option("--will-payload <payload>", "payload of the will")
    .option("--will-qos <qos>", "QoS of the will")
    .option("--will-retain", "retain the will")
    .option("-d, --debug", "print packet debug lines")
    .option("--quiet", "do not print errors")
    .action(async (flags) => {
      Deno.exit(await runSub(flags));
    });
}

interface SubSettings {
  topics: string[];
  filterOut: string[];
  unsubscribe: string[];
  qos: 0 | 1 | 2;
  count: number;
  timeoutMs: number;
}

function validateFilters(filters: string[], what: string): void {
  for (const filter of filters) {
    if (!isValidTopicFilter(filter)) {
      throw new UsageError(
        `Error: Invalid ${what} topic '${filter}', are all '+' and '#' wildcards correct?`,
      );
    }
  }
}

/** Runs `midge sub` with parsed flags; resolves with the exit code. */
export async function runSub(flags: SubFlags): Promise<number> {
  let resolved;
  let settings: SubSettings;
  try {
    resolved = resolveConnection(flags, [
      "connect",
      "subscribe",
      "unsubscribe",
      "disconnect",
      "will",
    ]);
    const topics = [...(flags.topic ?? [])];
    if (resolved.urlTopic !== undefined) topics.push(resolved.urlTopic);
    if (topics.length === 0 && (flags.U ?? []).length === 0) {
      throw new UsageError("Error: You must specify a topic to subscribe to.");
    }
    validateFilters(topics, "subscription");
    validateFilters(flags.T ?? [], "filter");
    validateFilters(flags.U ?? [], "unsubscribe");
    const count = flags.C === undefined ? 0 : parseInteger(flags.C, "message count", 2 ** 31);
    if (flags.C !== undefined && count < 1) {
      throw new UsageError(`Error: Invalid message count "${flags.C}".`);
    }
    const timeout = flags.W === undefined ? 0 : parseInteger(flags.W, "timeout", 3_600_000);
    if (flags.W !== undefined && timeout < 1) {
      throw new UsageError(`Error: Invalid timeout "${flags.W}".`);
    }
    settings = {
      topics,
      filterOut: flags.T ?? [],
      unsubscribe: flags.U ?? [],
      qos: parseQos(flags.qos),
      count,
      timeoutMs: timeout * 1000,
    };
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(error, "sub");
    throw error;
  }

  const quiet = flags.quiet ?? false;
  const client = new MqttClient(resolved.client);
  const properties = resolved.properties;
  // Listening before CONNECT: a resumed session's queued messages follow the CONNACK at once.
  const session = new SubSession({
    client,
    flags,
    settings,
    disconnectProperties: properties.disconnect,
    quiet,
  });
  try {
    await client.connect();
  } catch (error) {
    return reportConnectError(error, quiet);
  }
  return await session.run(properties.subscribe, properties.unsubscribe);
}

/** One connected `midge sub` run: filters, prints and counts messages, then disconnects. */
class SubSession {
  readonly #client: MqttClient;
  readonly #flags: SubFlags;
  readonly #settings: SubSettings;
  readonly #disconnectProperties: Properties | undefined;
  readonly #quiet: boolean;
  /** False once no more messages may be handled (count reached, timeout, signal). */
  #processing = true;
  #printed = 0;
  readonly #removals = new Set<Promise<unknown>>();
  #finishing: Promise<void> | undefined;
  #resolveExit!: (code: number) => void;
  readonly #exit = new Promise<number>((resolve) => this.#resolveExit = resolve);

  constructor(options: {
    client: MqttClient;
    flags: SubFlags;
    settings: SubSettings;
    disconnectProperties: Properties | undefined;
    quiet: boolean;
  }) {
    const client = options.client;
    this.#client = client;
    this.#flags = options.flags;
    this.#settings = options.settings;
    this.#disconnectProperties = options.disconnectProperties;
    this.#quiet = options.quiet;
    client.onMessage((message) => this.#handle(message));
  }

  async run(
    subscribeProperties: Properties | undefined,
    unsubscribeProperties: Properties | undefined,
  ): Promise<number> {
    const client = this.#client;
    const settings = this.#settings;
    client.closed.then((error) => {
      if (error !== undefined && this.#finishing === undefined) {
        if (!this.#quiet) writeError(`Error: ${error.message}`);
        this.#resolveExit(1);
      }
    });
    const stop = () => this.#finish(0);
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    const timer = settings.timeoutMs > 0
      ? setTimeout(() => {
        if (!this.#quiet) writeError("Timed out");
        this.#finish(EXIT_TIMEOUT);
      }, settings.timeoutMs)
      : undefined;
    try {
      if (this.#finishing !== undefined) return await this.#exit;
      this.#subscribe(subscribeProperties, unsubscribeProperties).catch((error) => {
        if (this.#finishing !== undefined) return;
        if (!this.#quiet) writeError(`Error: ${error instanceof Error ? error.message : error}`);
        this.#finish(1);
      });
      return await this.#exit;
    } finally {
      clearTimeout(timer);
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    }
  }

  async #subscribe(
    subscribeProperties: Properties | undefined,
    unsubscribeProperties: Properties | undefined,
  ): Promise<void> {
    const client = this.#client;
    const { topics, qos, unsubscribe } = this.#settings;
    if (topics.length > 0) {
      const suback = await client.subscribe(
        topics.map((topicFilter) => ({ topicFilter, qos })),
        subscribeProperties,
      );
      if (this.#flags.debug) {
        writeLine(`Subscribed (mid: ${suback.packetId}): ${suback.reasonCodes.join(", ")}`);
      }
      if (suback.reasonCodes.every((code) => code >= 0x80)) {
        if (!this.#quiet) writeError("All subscription requests were denied.");
        this.#finish(1);
        return;
      }
    }
    if (unsubscribe.length > 0) await client.unsubscribe(unsubscribe, unsubscribeProperties);
    if (this.#flags.E) this.#finish(0);
  }

  /** mosquitto_sub's message callback: filter, clear, stop, skip stale, print, count. */
  #handle(message: ReceivedMessage): void {
    if (!this.#processing) return;
    const flags = this.#flags;
    if (this.#settings.filterOut.some((filter) => topicMatches(filter, message.topic))) return;
    if (flags.removeRetained && message.retain) {
      // An empty retained message clears the topic's retained message [MQTT-3.3.1-10].
      const removal = this.#client.publish(message.topic, new Uint8Array(0), {
        qos: 1,
        retain: true,
      }).catch(() => {});
      this.#removals.add(removal);
      removal.finally(() => this.#removals.delete(removal));
    }
    if (flags.retainedOnly && !message.retain) {
      this.#finish(0);
      return;
    }
    if (flags.R && message.retain) return;
    try {
      this.#print(message);
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      if (!this.#quiet) writeError(error.message);
      return;
    }
    if (this.#settings.count > 0 && ++this.#printed >= this.#settings.count) this.#finish(0);
  }

  #print(message: ReceivedMessage): void {
    const flags = this.#flags;
    const newline = flags.N ? "" : "\n";
    const encoder = new TextEncoder();
    if (flags.F !== undefined) {
      const text = formatMessage(flags.F, message);
      writeStdout(newline === "" ? text : concat(text, encoder.encode(newline)));
      return;
    }
    if (flags.verbose) {
      if (message.payload.length === 0) {
        writeStdout(encoder.encode(`${message.topic} (null)${newline}`));
        return;
      }
      const head = encoder.encode(`${message.topic} `);
      writeStdout(concat(concat(head, message.payload), encoder.encode(newline)));
      return;
    }
    writeStdout(concat(message.payload, encoder.encode(newline)));
  }

  /** Stops handling messages, waits for `--remove-retained` publishes, disconnects, exits. */
  #finish(code: number): void {
    this.#processing = false;
    if (this.#finishing !== undefined) return;
    this.#finishing = (async () => {
      await Promise.all(this.#removals);
      const properties = this.#disconnectProperties;
      await this.#client.disconnect(properties ? { properties } : {});
      this.#resolveExit(code);
    })();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
