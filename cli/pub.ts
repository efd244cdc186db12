/**
 * `midge pub`: publishes messages like `mosquitto_pub`, with the same flags, output and exit
 * codes, on midge's own client.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { MqttClient, type PublishOptions } from "../client/client.ts";
import { reasonString } from "../client/errors.ts";
import { isValidTopicName } from "../codec/topic.ts";
import {
  type ConnectionFlags,
  parseInteger,
  parseQos,
  reportConnectError,
  reportUsageError,
  resolveConnection,
  UsageError,
  writeError,
} from "./client_options.ts";

/** Flags of `midge pub` as commander parses them. */
export interface PubFlags extends ConnectionFlags {
  topic?: string;
  message?: string;
  file?: string;
  stdinLine?: boolean;
  stdinFile?: boolean;
  nullMessage?: boolean;
  qos?: string;
  retain?: boolean;
  repeat?: string;
  repeatDelay?: string;
}

/**
 * The `pub` subcommand. Mosquitto uses `-h` for the host, so help is `--help` only.
 *
 * @example
 * ```ts ignore
 * import { Command } from "@commander-js/extra-typings";
 * import { pubCommand } from "./pub.ts";
 * await new Command("midge").addCommand(pubCommand()).parseAsync(["pub", "-t", "a", "-m", "hi"], {
 *   from: "user",
 * });
 * ```
 */
export function pubCommand() {
  return new Command("pub")
    .description("Publish a message (mosquitto_pub compatible)")
    .helpOption("--help", "display this message")
    .option("-h, --host <host>", "broker host (default localhost)")
    .option("-p, --port <port>", "broker port (default 1883)")
    .option("-L, --url <url>", "mqtt://[username[:password]@]host[:port]/topic")
    .option("-t, --topic <topic>", "topic to publish to")
    .option("-m, --message <message>", "message payload to send")
    .option("-f, --file <file>", "send the contents of a file as the message")
    .option("-l, --stdin-line", "read messages from stdin, one message per line")
    .option("-s, --stdin-file", "read the whole of stdin as one message")
    .option("-n, --null-message", "send a zero length message")
    .option("-q, --qos <qos>", "quality of service 0, 1 or 2 (default 0)")
    .option("-r, --retain", "retain the message")
    .option("--repeat <count>", "publish the message this many times")
    .option("--repeat-delay <seconds>", "wait this long between repeated publishes")
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
      "MQTT 5 property: command identifier value, e.g. -D publish user-property name value",
    )
    .option("--will-topic <topic>", "topic of the will")
    .option("--will-payload <payload>", "payload of the will")
    .option("--will-qos <qos>", "QoS of the will")
    .option("--will-retain", "retain the will")
    .option("-d, --debug", "print packet debug lines")
    .option("--quiet", "do not print errors")
    .action(async (flags) => {
      Deno.exit(await runPub(flags));
    });
}

type MessageSource =
  | { kind: "single"; payload: Uint8Array }
  | { kind: "lines" };

/** Runs `midge pub` with parsed flags; resolves with the exit code. */
export async function runPub(flags: PubFlags): Promise<number> {
  let resolved;
  let source: MessageSource;
  let topic: string;
  let publishOptions: PublishOptions;
  let repeat = 1;
  let repeatDelayMs = 0;
  try {
    resolved = resolveConnection(flags, ["connect", "publish", "disconnect", "will"]);
    topic = flags.topic ?? resolved.urlTopic ?? "";
    const sources = [
      flags.message !== undefined,
      flags.file !== undefined,
      flags.stdinLine,
      flags.stdinFile,
      flags.nullMessage,
    ].filter(Boolean).length;
    if (sources > 1) throw new UsageError("Error: Only one type of message can be sent at once.");
    if (topic === "" || sources === 0) {
      throw new UsageError("Error: Both topic and message must be supplied.");
    }
    if (!isValidTopicName(topic)) {
      throw new UsageError(`Error: Invalid publish topic '${topic}', does it contain '+' or '#'?`);
    }
    publishOptions = { qos: parseQos(flags.qos), retain: flags.retain ?? false };
    if (resolved.properties.publish) publishOptions.properties = resolved.properties.publish;
    if (flags.repeat !== undefined) {
      repeat = parseInteger(flags.repeat, "repeat count", Number.MAX_SAFE_INTEGER);
      if (repeat < 1) throw new UsageError(`Error: Invalid repeat count given: ${flags.repeat}`);
    }
    if (flags.repeatDelay !== undefined) {
      const seconds = Number(flags.repeatDelay);
      if (flags.repeatDelay.trim() === "" || !(seconds >= 0)) {
        throw new UsageError(`Error: Invalid repeat delay given: ${flags.repeatDelay}`);
      }
      repeatDelayMs = seconds * 1000;
    }
    source = flags.stdinLine ? { kind: "lines" } : {
      kind: "single",
      payload: flags.message !== undefined
        ? new TextEncoder().encode(flags.message)
        : flags.file !== undefined
        ? await readFile(flags.file)
        : flags.stdinFile
        ? await readAll(Deno.stdin.readable)
        : new Uint8Array(0),
    };
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(error, "pub");
    throw error;
  }

  const quiet = flags.quiet ?? false;
  const client = new MqttClient(resolved.client);
  try {
    await client.connect();
  } catch (error) {
    return reportConnectError(error, quiet);
  }
  try {
    const report = (result: { packetId?: number; reasonCode: number }) => {
      if (result.reasonCode >= 0x80 && !quiet) {
        writeError(
          `Warning: Publish ${result.packetId ?? 0} failed: ${reasonString(result.reasonCode)}.`,
        );
      }
    };
    if (source.kind === "single") {
      for (let i = 0; i < repeat; i++) {
        if (i > 0 && repeatDelayMs > 0) await delay(repeatDelayMs);
        report(await client.publish(topic, source.payload, publishOptions));
      }
    } else {
      await publishLines(client, topic, publishOptions, report);
    }
    const disconnect = resolved.properties.disconnect;
    await client.disconnect(disconnect ? { properties: disconnect } : {});
    return 0;
  } catch (error) {
    client.close();
    if (!quiet) writeError(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/**
 * `-l`: one message per stdin line (without its `\n`; an empty line is an empty message), sent as
 * lines arrive. QoS 1/2 publishes are pipelined up to the broker's Receive Maximum.
 */
async function publishLines(
  client: MqttClient,
  topic: string,
  options: PublishOptions,
  report: (result: { packetId?: number; reasonCode: number }) => void,
): Promise<void> {
  const outstanding = new Set<Promise<void>>();
  let failure: unknown;
  const send = async (line: Uint8Array) => {
    if (failure !== undefined) throw failure;
    const published = client.publish(topic, line, options).then(report);
    if ((options.qos ?? 0) === 0) return await published;
    const tracked = published.catch((error) => {
      failure ??= error;
    }).finally(() => outstanding.delete(tracked));
    outstanding.add(tracked);
  };
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of Deno.stdin.readable) {
    let data = pending.length > 0 ? concat(pending, chunk) : chunk;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a)) {
      await send(data.slice(0, newline));
      data = data.subarray(newline + 1);
    }
    pending = data.slice();
  }
  if (pending.length > 0) await send(pending);
  await Promise.all(outstanding);
  if (failure !== undefined) throw failure;
}

async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(
      `Error: Unable to read file "${path}": ${
        error instanceof Error ? error.message.replace(/\s*\(os error \d+\)/, "") : error
      }.`,
    );
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    length += chunk.length;
  }
  const all = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
