/**
 * Logging in Mosquitto's shape: `1600219959: Opening ipv4 listen socket on port 1883.`
 *
 * Unix seconds, a colon, a space and the message; no level and no category, so that scripts
 * written against Mosquitto's log keep working. Built on LogTape so library users can route the
 * `["midge", …]` categories to sinks of their own instead.
 *
 * @module
 */

import type { LogConfig, LogType } from "./config/types.ts";
import { strftime } from "./strftime.ts";
import {
  configure,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
  type TextFormatter,
} from "@logtape/logtape";

/** Options for {@link setupLogging}. */
export interface LoggingOptions {
  /** Also show debug lines (every PUBLISH and SUBSCRIBE), like Mosquitto's `-v`. */
  verbose?: boolean;
  /** Where lines go; Mosquitto logs to stderr by default. */
  destination?: "stderr" | "stdout" | "none";
  /** Prefix lines with unix seconds (default `true`), like Mosquitto's `log_timestamp`. */
  timestamp?: boolean;
  /** Write lines here instead of `destination`, e.g. to capture them in tests. */
  writer?: { writeSync(bytes: Uint8Array): number };
  /**
   * mosquitto.conf's logging settings (`log_dest`, `log_type`, `log_timestamp`,
   * `log_timestamp_format`); when given they replace `destination`, `verbose` and `timestamp`.
   */
  config?: LogConfig;
  /** Receives lines for `log_dest topic` (the broker publishes them on `$SYS/broker/log/…`). */
  topicSink?: (level: LogLevel, line: string) => void;
}

/** Log files opened by the current configuration, closed when it is replaced. */
const openFiles: Deno.FsFile[] = [];

/** The root category of every midge logger. */
export const LOG_CATEGORY = "midge";

/**
 * Renders the text of a record. Messages are plain strings: a literal `{abc}` (a client id may
 * contain braces) is printed as is rather than read as a LogTape placeholder, unless the caller
 * passed properties to fill placeholders.
 */
function renderMessage(record: LogRecord): string {
  if (typeof record.rawMessage === "string" && Object.keys(record.properties).length === 0) {
    return record.rawMessage;
  }
  let text = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    text += i % 2 === 0 || typeof part === "string" ? String(part) : Deno.inspect(part);
  }
  return text;
}

/**
 * Formats a record as Mosquitto does: `1600219959: message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMosquitto } from "./log.ts";
 * const line = formatMosquitto({
 *   category: ["midge"],
 *   level: "info",
 *   message: ["midge version 0.1.0 starting"],
 *   rawMessage: "midge version 0.1.0 starting",
 *   timestamp: 1600219959123,
 *   properties: {},
 * });
 * assert.equal(line, "1600219959: midge version 0.1.0 starting\n");
 * ```
 */
export const formatMosquitto: TextFormatter = (record) =>
  `${Math.floor(record.timestamp / 1000)}: ${renderMessage(record)}\n`;

/** Like {@link formatMosquitto} without the timestamp. */
export const formatPlain: TextFormatter = (record) => `${renderMessage(record)}\n`;

/**
 * A formatter with a `strftime` timestamp, Mosquitto's `log_timestamp_format`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatWithTimestampFormat } from "./log.ts";
 * const format = formatWithTimestampFormat("%s");
 * const record = { category: ["midge"], level: "info" as const, message: ["hi"],
 *   rawMessage: "hi", timestamp: 1600219959123, properties: {} };
 * assert.equal(format(record), "1600219959: hi\n");
 * ```
 */
export function formatWithTimestampFormat(format: string): TextFormatter {
  return (record) => `${strftime(format, new Date(record.timestamp))}: ${renderMessage(record)}\n`;
}

/** The lowest LogTape level that shows every Mosquitto `log_type` in `types`. */
export function lowestLevelFor(types: ReadonlySet<LogType>): LogLevel | null {
  if (
    types.has("debug") || types.has("subscribe") || types.has("unsubscribe") ||
    types.has("websockets")
  ) {
    return "debug";
  }
  if (types.has("notice") || types.has("information")) return "info";
  if (types.has("warning")) return "warning";
  if (types.has("error")) return "error";
  return null;
}

/**
 * A sink that writes each line synchronously, so lines logged just before `Deno.exit()` are not
 * lost in a buffer.
 */
export function getWriterSink(
  writer: { writeSync(bytes: Uint8Array): number },
  formatter: TextFormatter = formatMosquitto,
): Sink {
  const encoder = new TextEncoder();
  return (record) => {
    const bytes = encoder.encode(formatter(record));
    let offset = 0;
    try {
      while (offset < bytes.length) offset += writer.writeSync(bytes.subarray(offset));
    } catch {
      // A closed stderr (e.g. the parent went away) must not take the broker down.
    }
  };
}

/**
 * Configures LogTape for the broker. Safe to call again: the previous configuration is replaced.
 *
 * @example
 * ```ts
 * import { getBrokerLogger, setupLogging } from "./log.ts";
 * await setupLogging({ destination: "none" });
 * getBrokerLogger().info("midge version 0.1.0 starting");
 * ```
 */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  for (const file of openFiles.splice(0)) file.close();
  const config = options.config;
  const formatter = config?.timestampFormat !== undefined && config.timestamp
    ? formatWithTimestampFormat(config.timestampFormat)
    : (config ? config.timestamp : options.timestamp !== false)
    ? formatMosquitto
    : formatPlain;
  const sinks: Record<string, Sink> = {};
  if (options.writer) {
    sinks.writer = getWriterSink(options.writer, formatter);
  } else if (config) {
    for (const [i, dest] of config.dest.entries()) {
      switch (dest.kind) {
        case "stdout":
          sinks[`d${i}`] = getWriterSink(Deno.stdout, formatter);
          break;
        case "stderr":
        // No syslog socket is reachable from Deno without unstable APIs (and there is none in a
        // scratch image): syslog lines go to stderr, which journald collects under systemd.
        case "syslog":
          sinks[`d${i}`] = getWriterSink(Deno.stderr, formatter);
          break;
        case "file": {
          const file = Deno.openSync(dest.path, { append: true, create: true, write: true });
          openFiles.push(file);
          sinks[`d${i}`] = getWriterSink(file, formatter);
          break;
        }
        case "topic":
          if (options.topicSink) {
            const publish = options.topicSink;
            sinks[`d${i}`] = (record) => publish(record.level, formatPlain(record).slice(0, -1));
          }
          break;
      }
    }
  } else {
    const destination = options.destination ?? "stderr";
    const writer = destination === "stdout"
      ? Deno.stdout
      : destination === "stderr"
      ? Deno.stderr
      : undefined;
    if (writer) sinks.out = getWriterSink(writer, formatter);
  }
  const sinkIds = Object.keys(sinks);
  const lowestLevel = sinkIds.length === 0
    ? null
    : config
    ? lowestLevelFor(config.types)
    : options.verbose
    ? "debug"
    : "info";
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: [LOG_CATEGORY], sinks: sinkIds, lowestLevel },
      // LogTape's own diagnostics: only real problems, and without its "configured" notice.
      { category: ["logtape", "meta"], sinks: sinkIds, lowestLevel: "warning" },
    ],
  });
}

/**
 * The LogTape logger for `["midge", ...category]`.
 *
 * Pass messages as finished strings: `log.info(\`New client connected from ${address}.\`)`.
 *
 * @example
 * ```ts
 * import { getBrokerLogger } from "./log.ts";
 * const log = getBrokerLogger("listener");
 * log.debug("nothing is printed until setupLogging() runs");
 * ```
 */
export function getBrokerLogger(...category: string[]): Logger {
  return getLogger([LOG_CATEGORY, ...category]);
}
