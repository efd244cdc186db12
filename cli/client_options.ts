/**
 * What `midge pub` and `midge sub` share: Mosquitto-compatible connection flags turned into
 * {@linkcode MqttClientOptions}, `-D command identifier value` properties, and Mosquitto's
 * error wording and exit codes.
 *
 * @module
 */

import { PROPERTIES, WILL_PROPERTIES } from "../codec/properties.ts";
import type { Properties, ProtocolVersion, QoS, UserProperty, Will } from "../codec/types.ts";
import { randomClientId } from "../client/client.ts";
import type { MqttClientOptions } from "../client/client.ts";
import { ConnectionRefusedError } from "../client/errors.ts";

/** A mistake on the command line: printed with a hint to `--help`, exit code 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Connection flags common to `midge pub` and `midge sub`, as commander parses them. */
export interface ConnectionFlags {
  host?: string;
  port?: string;
  username?: string;
  pw?: string;
  id?: string;
  idPrefix?: string;
  keepalive?: string;
  protocolVersion?: string;
  property?: string[];
  disableCleanSession?: boolean;
  x?: string;
  debug?: boolean;
  quiet?: boolean;
  url?: string;
  willTopic?: string;
  willPayload?: string;
  willQos?: string;
  willRetain?: boolean;
}

/** `-D` commands and the property context each maps to (packet type number, or the will). */
const COMMAND_CONTEXTS = {
  connect: 1,
  publish: 3,
  subscribe: 8,
  unsubscribe: 10,
  disconnect: 14,
  will: WILL_PROPERTIES,
} as const;

/** A `-D` command name. */
export type PropertyCommand = keyof typeof COMMAND_CONTEXTS;

/** Properties given with `-D`, per command. */
export type PropertySets = Partial<Record<PropertyCommand, Properties>>;

/** Mosquitto's property names (the spec's names with '-'), where they differ from the key. */
const NAME_OVERRIDES: Partial<Record<keyof Properties, string>> = {
  subscriptionIdentifiers: "subscription-identifier",
  userProperties: "user-property",
  maximumQoS: "maximum-qos",
  subscriptionIdentifiersAvailable: "subscription-identifier-available",
};

/** The `-D` / `%j` name of a property key, e.g. `messageExpiryInterval` → `message-expiry-interval`. */
export function propertyName(key: keyof Properties): string {
  return NAME_OVERRIDES[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const BY_NAME = new Map(PROPERTIES.map((info) => [propertyName(info.key), info]));

const INTEGER_RANGES = {
  byte: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  varint: 268_435_455,
} as const;

/**
 * Parses the values of repeated `-D command identifier value` (or `... user-property name value`)
 * options, given as one flat list, checking each property against the packets that may carry it
 * (section 2.2.2.2). `commands` lists the commands the tool accepts.
 *
 * @example
 * ```ts
 * import { parsePropertyArgs } from "./client_options.ts";
 * parsePropertyArgs(["publish", "user-property", "a", "b", "publish", "content-type", "x"], ["publish"]);
 * // { publish: { userProperties: [["a", "b"]], contentType: "x" } }
 * ```
 */
export function parsePropertyArgs(
  args: readonly string[],
  commands: readonly PropertyCommand[],
): PropertySets {
  const sets: PropertySets = {};
  for (let i = 0; i < args.length;) {
    const command = args[i]!.toLowerCase();
    const name = args[i + 1];
    if (!(commands as readonly string[]).includes(command)) {
      throw new UsageError(`Error: Invalid command "${command}" given in --property argument.`);
    }
    if (name === undefined) {
      throw new UsageError("Error: Incomplete property given in --property argument.");
    }
    const info = BY_NAME.get(name.toLowerCase());
    if (info === undefined) {
      throw new UsageError("Error: Invalid property name given in --property argument.");
    }
    const context = COMMAND_CONTEXTS[command as PropertyCommand];
    // A client must not send a Subscription Identifier in PUBLISH [MQTT-3.3.4-6].
    const clientMayNotSend = context === 3 && info.key === "subscriptionIdentifiers";
    if ((info.contexts & (1 << context)) === 0 || clientMayNotSend) {
      throw new UsageError(
        `Error: ${
          propertyName(info.key)
        } property not allowed for ${command} in --property argument.`,
      );
    }
    const arity = info.type === "pair" ? 2 : 1;
    const values = args.slice(i + 2, i + 2 + arity);
    if (values.length < arity) {
      throw new UsageError("Error: Incomplete property given in --property argument.");
    }
    const properties = (sets[command as PropertyCommand] ??= {});
    setProperty(properties, info.key, info.type, values);
    i += 2 + arity;
  }
  return sets;
}

function setProperty(
  properties: Properties,
  key: keyof Properties,
  type: string,
  values: string[],
): void {
  const value = values[0]!;
  const target = properties as Record<string, unknown>;
  switch (type) {
    case "pair":
      (properties.userProperties ??= []).push([value, values[1]!] as UserProperty);
      return;
    case "utf8":
      target[key] = value;
      return;
    case "binary":
      // As mosquitto_pub, binary properties are given as strings.
      target[key] = new TextEncoder().encode(value);
      return;
    default: {
      const max = INTEGER_RANGES[type as keyof typeof INTEGER_RANGES];
      const n = Number(value);
      if (!/^\d+$/.test(value) || n > max) {
        throw new UsageError(
          `Error: Invalid value "${value}" for ${
            propertyName(key)
          } in --property argument: expected an integer 0..${max}.`,
        );
      }
      if (key === "subscriptionIdentifiers") properties.subscriptionIdentifiers = [n];
      else target[key] = n;
    }
  }
}

/**
 * The protocol level for `-V`: `mqttv31`/`31`, `mqttv311`/`311`, `mqttv5`/`5`.
 *
 * @example
 * ```ts
 * import { parseProtocolVersion } from "./client_options.ts";
 * parseProtocolVersion("mqttv5"); // 5
 * ```
 */
export function parseProtocolVersion(value: string): ProtocolVersion {
  switch (value.toLowerCase()) {
    case "mqttv31":
    case "31":
      return 3;
    case "mqttv311":
    case "311":
      return 4;
    case "mqttv5":
    case "5":
      return 5;
    default:
      throw new UsageError("Error: Invalid protocol version argument given.");
  }
}

/** A QoS flag value 0..2, else a usage error worded as Mosquitto's. */
export function parseQos(value: string | undefined, what = "QoS"): QoS {
  if (value === undefined) return 0;
  if (!/^[0-2]$/.test(value)) throw new UsageError(`Error: Invalid ${what} given: ${value}`);
  return Number(value) as QoS;
}

/** A non-negative integer flag value up to `max`. */
export function parseInteger(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > max) {
    throw new UsageError(`Error: Invalid ${flag} given: ${value}`);
  }
  return n;
}

/** The connection settings and the URL topic (`-L`) derived from the common flags. */
export interface ResolvedConnection {
  client: MqttClientOptions;
  properties: PropertySets;
  /** Topic from `-L mqtt://host/topic`, if given. */
  urlTopic?: string;
}

/**
 * Turns the common flags into client options, with Mosquitto's defaults (localhost:1883, keepalive
 * 60, MQTT 3.1.1, clean session) and checks. `-D` switches to MQTT 5 unless `-V` says otherwise.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  commands: readonly PropertyCommand[],
): ResolvedConnection {
  const propertyArgs = flags.property ?? [];
  const version: ProtocolVersion = flags.protocolVersion === undefined
    ? (propertyArgs.length > 0 ? 5 : 4)
    : parseProtocolVersion(flags.protocolVersion);
  if (propertyArgs.length > 0 && version !== 5) {
    throw new UsageError("Error: --property (-D) needs MQTT v5 (-V mqttv5).");
  }
  const properties = parsePropertyArgs(propertyArgs, commands);
  let hostname = flags.host ?? "localhost";
  let port = flags.port === undefined ? 1883 : parsePort(flags.port);
  let username = flags.username;
  let password = flags.pw;
  let urlTopic: string | undefined;
  if (flags.url !== undefined) {
    const url = parseMqttUrl(flags.url);
    hostname = url.hostname;
    port = url.port;
    username = url.username ?? username;
    password = url.password ?? password;
    urlTopic = url.topic;
  }
  if (password !== undefined && username === undefined && version !== 5) {
    throw new UsageError("Error: A password was given without a username (-u).");
  }
  if (flags.id !== undefined && flags.idPrefix !== undefined) {
    throw new UsageError("Error: -i and -I argument cannot be used together.");
  }
  const clean = !flags.disableCleanSession;
  let clientId = flags.id ??
    (flags.idPrefix !== undefined ? `${flags.idPrefix}${Deno.pid}` : undefined);
  if (!clean && clientId === undefined) {
    throw new UsageError("Error: You must provide a client id if you are using the -c option.");
  }
  if (clientId === undefined && version !== 5) clientId = randomClientId();
  const keepalive = flags.keepalive === undefined
    ? 60
    : parseInteger(flags.keepalive, "keepalive", 65535);

  const connect: Properties = { ...properties.connect };
  if (version === 5) {
    const expiry = flags.x !== undefined ? parseSessionExpiry(flags.x) : clean ? 0 : 0xffffffff;
    if (expiry === 0xffffffff && clientId === undefined) {
      throw new UsageError(
        "Error: You must provide a client id if you are using an infinite session expiry interval.",
      );
    }
    if (expiry !== 0) connect.sessionExpiryInterval = expiry;
  } else if (flags.x !== undefined) {
    throw new UsageError("Error: -x is only valid with MQTT v5.");
  }

  const client: MqttClientOptions = { hostname, port, protocolVersion: version, clean, keepalive };
  if (clientId !== undefined) client.clientId = clientId;
  if (username !== undefined) client.username = username;
  if (password !== undefined) client.password = password;
  if (Object.keys(connect).length > 0) client.properties = connect;
  const will = resolveWill(flags, properties.will);
  if (will !== undefined) client.will = will;
  if (flags.debug) client.debug = (line) => writeLine(line);
  const resolved: ResolvedConnection = { client, properties };
  if (urlTopic !== undefined) resolved.urlTopic = urlTopic;
  return resolved;
}

function resolveWill(flags: ConnectionFlags, properties: Properties | undefined): Will | undefined {
  if (flags.willTopic === undefined) {
    if (flags.willPayload !== undefined || flags.willQos !== undefined || flags.willRetain) {
      throw new UsageError("Error: Will payload, QoS or retain given without --will-topic.");
    }
    return undefined;
  }
  const will: Will = {
    topic: flags.willTopic,
    payload: new TextEncoder().encode(flags.willPayload ?? ""),
    qos: parseQos(flags.willQos, "will QoS"),
    retain: flags.willRetain ?? false,
  };
  if (properties !== undefined) will.properties = properties;
  return will;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new UsageError(`Error: Invalid port given: ${value}`);
  }
  return port;
}

/** `-x`: seconds, or -1 / ∞ / 4294967295 for a session that never expires. */
function parseSessionExpiry(value: string): number {
  if (value === "-1" || value === "∞") return 0xffffffff;
  return parseInteger(value, "session expiry interval", 0xffffffff);
}

/** `-L mqtt://[username[:password]@]host[:port]/topic`. */
function parseMqttUrl(value: string): {
  hostname: string;
  port: number;
  username?: string;
  password?: string;
  topic?: string;
} {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`Error: Unsupported URL scheme or invalid URL: ${value}`);
  }
  if (url.protocol !== "mqtt:") {
    throw new UsageError(
      `Error: Unsupported URL scheme "${url.protocol.replace(/:$/, "")}": midge supports mqtt://`,
    );
  }
  const result: ReturnType<typeof parseMqttUrl> = {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 1883 : Number(url.port),
  };
  if (url.username !== "") result.username = decodeURIComponent(url.username);
  if (url.password !== "") result.password = decodeURIComponent(url.password);
  const topic = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (topic !== "") result.topic = topic;
  return result;
}

const encoder = new TextEncoder();

/** Writes all of `bytes` to stdout synchronously, so nothing is lost when the process exits. */
export function writeStdout(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/** Writes `line` and a newline to stdout. */
export function writeLine(line: string): void {
  writeStdout(encoder.encode(line + "\n"));
}

/** Writes `line` and a newline to stderr. */
export function writeError(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
}

/**
 * Prints a failed connect the way Mosquitto's clients do and returns the exit code: the CONNACK
 * code for a refusal (`Connection error: Connection Refused: not authorised.`, exit 5), 1 for a
 * network failure (`Error: Connection refused`).
 */
export function reportConnectError(error: unknown, quiet = false): number {
  if (error instanceof ConnectionRefusedError) {
    if (!quiet) writeError(`Connection error: ${error.message}`);
    return error.reasonCode;
  }
  if (!quiet) writeError(`Error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

/** Prints a usage error with the hint to `--help` and returns exit code 1. */
export function reportUsageError(error: UsageError, tool: string): number {
  writeError(error.message);
  writeError(`\nUse 'midge ${tool} --help' to see usage.`);
  return 1;
}
