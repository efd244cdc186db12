/**
 * `midge sub -F`: mosquitto_sub's output format strings. `%` sequences print message fields
 * (with optional `-`/`0` flags, width and `.precision`), `@` sequences print the time as
 * strftime(3), and `\` sequences print control characters.
 *
 * @module
 */

import type { ReceivedMessage } from "../client/client.ts";
import type { Properties } from "../codec/types.ts";
import { propertyName } from "./client_options.ts";

/** A `%J` message whose payload is not JSON: mosquitto_sub prints an error and skips it. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Conversions that take a field width (mosquitto_sub(1), "Field width"); others ignore it. */
const WIDTH = new Set(["A", "C", "E", "F", "I", "l", "m", "p", "R", "S", "t", "x", "X"]);
/** Conversions that take a maximum width (".precision"). */
const PRECISION = new Set(["C", "I", "R", "t"]);
/** Conversions whose value may be zero padded (mosquitto_sub(1), "Flag characters"). */
const ZERO_PADDED = new Set(["A", "E", "F", "l", "m", "S", "X", "x"]);

/**
 * Renders `message` with a mosquitto_sub `-F` format. The result holds the raw payload bytes for
 * `%p`, so binary payloads pass through unchanged. No newline is added.
 *
 * @example
 * ```ts
 * import { formatMessage } from "./sub_format.ts";
 * const message = {
 *   topic: "a/b",
 *   payload: new TextEncoder().encode("hi"),
 *   qos: 1 as const,
 *   retain: false,
 *   dup: false,
 *   packetId: 7,
 * };
 * new TextDecoder().decode(formatMessage("%t %p q%q r%r m%m %x %5l|%-4t|", message));
 * // "a/b hi q1 r0 m7 6869     2|a/b |"
 * ```
 */
export function formatMessage(
  format: string,
  message: ReceivedMessage,
  epochMs: number = performance.timeOrigin + performance.now(),
): Uint8Array {
  const parts: Uint8Array[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") parts.push(encoder.encode(text));
    text = "";
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === "%") {
      const spec = /^([-0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])/.exec(format.slice(i + 1));
      if (spec === null) {
        text += c;
        continue;
      }
      i += spec[0].length;
      const [, flags = "", width = "", precision, conversion = ""] = spec;
      if (conversion === "p" && width === "" && precision === undefined) {
        flush();
        parts.push(message.payload);
        continue;
      }
      if (conversion === "D" && width === "") {
        flush();
        const data = message.properties?.correlationData;
        if (data !== undefined) parts.push(data);
        continue;
      }
      const value = field(conversion, message, epochMs);
      if (value === undefined) {
        text += `%${spec[0]}`;
        continue;
      }
      text += pad(value, conversion, flags, width, precision);
    } else if (c === "@") {
      const next = format[i + 1];
      if (next === undefined) {
        text += c;
        continue;
      }
      i++;
      text += strftime(next, epochMs);
    } else if (c === "\\") {
      const next = format[i + 1];
      const escaped = next === undefined ? undefined : ESCAPES[next];
      if (escaped === undefined) {
        text += c;
        continue;
      }
      i++;
      text += escaped;
    } else {
      text += c;
    }
  }
  flush();
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const ESCAPES: Record<string, string> = {
  "\\": "\\",
  "0": "\0",
  a: "\x07",
  e: "\x1b",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

function pad(
  value: string,
  conversion: string,
  flags: string,
  width: string,
  precision: string | undefined,
): string {
  if (!WIDTH.has(conversion)) return value;
  let s = precision === undefined || !PRECISION.has(conversion)
    ? value
    : [...value].slice(0, Number(precision)).join("");
  const w = width === "" ? 0 : Number(width);
  if (s.length >= w) return s;
  if (flags.includes("-")) return s.padEnd(w, " ");
  if (flags.includes("0") && ZERO_PADDED.has(conversion)) s = s.padStart(w, "0");
  return s.padStart(w, " ");
}

/** The text of one `%` conversion; "" for an absent property; undefined for an unknown one. */
function field(conversion: string, m: ReceivedMessage, epochMs: number): string | undefined {
  const p = m.properties;
  switch (conversion) {
    case "%":
      return "%";
    case "t":
      return m.topic;
    case "p":
      return decoder.decode(m.payload);
    case "q":
      return String(m.qos);
    case "r":
      return m.retain ? "1" : "0";
    case "l":
      return String(m.payload.length);
    case "m":
      return String(m.packetId ?? 0);
    case "x":
      return hex(m.payload);
    case "X":
      return hex(m.payload).toUpperCase();
    case "P":
      return (p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(" ");
    case "C":
      return p?.contentType ?? "";
    case "D":
      return p?.correlationData ? decoder.decode(p.correlationData) : "";
    case "E":
      return p?.messageExpiryInterval?.toString() ?? "";
    case "F":
      return p?.payloadFormatIndicator?.toString() ?? "";
    case "R":
      return p?.responseTopic ?? "";
    case "S":
      return p?.subscriptionIdentifiers?.join(",") ?? "";
    case "A":
      return p?.topicAlias?.toString() ?? "";
    case "I":
      return isoTime(epochMs);
    case "U": {
      const seconds = Math.floor(epochMs / 1000);
      const nanos = Math.floor((epochMs - seconds * 1000) * 1e6);
      return `${seconds}.${String(nanos).padStart(9, "0")}`;
    }
    case "j":
    case "J":
      return json(m, epochMs, conversion === "J");
    default:
      return undefined;
  }
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

const two = (n: number) => String(n).padStart(2, "0");

/** Local UTC offset as `+hhmm`. */
function utcOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

function localDateTime(date: Date): string {
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${
    two(date.getHours())
  }:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** `%I`: ISO 8601 local time, e.g. `2016-08-10T09:47:38+0100`. */
function isoTime(epochMs: number): string {
  const date = new Date(Math.floor(epochMs));
  return `${localDateTime(date)}${utcOffset(date)}`;
}

/** `%j` / `%J`: one JSON object per message, fields in mosquitto_sub's order. */
function json(m: ReceivedMessage, epochMs: number, rawPayload: boolean): string {
  const date = new Date(Math.floor(epochMs));
  const micros = Math.floor((epochMs - Math.floor(epochMs / 1000) * 1000) * 1000);
  // mosquitto_sub 2.0 writes the fraction, a "Z" and then the offset; matched as is.
  const tst = `${localDateTime(date)}.${String(micros).padStart(6, "0")}Z${utcOffset(date)}`;
  let out = `{"tst":${JSON.stringify(tst)},"topic":${JSON.stringify(m.topic)},"qos":${m.qos},` +
    `"retain":${m.retain ? 1 : 0},"payloadlen":${m.payload.length}`;
  if (m.qos > 0) out += `,"mid":${m.packetId ?? 0}`;
  const properties = jsonProperties(m.properties);
  if (properties !== undefined) out += `,"properties":${properties}`;
  const payload = decoder.decode(m.payload);
  if (rawPayload) {
    try {
      JSON.parse(payload);
    } catch {
      throw new FormatError(`Error: Message payload is not valid JSON on topic ${m.topic}`);
    }
    return `${out},"payload":${payload}}`;
  }
  return `${out},"payload":${JSON.stringify(payload)}}`;
}

function jsonProperties(p: Properties | undefined): string | undefined {
  if (p === undefined) return undefined;
  const entries: string[] = [];
  if (p.userProperties !== undefined) {
    const pairs = p.userProperties.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    entries.push(`"user-properties":{${pairs.join(",")}}`);
  }
  for (const [key, value] of Object.entries(p)) {
    if (key === "userProperties" || value === undefined) continue;
    const name = JSON.stringify(propertyName(key as keyof Properties));
    const rendered = value instanceof Uint8Array
      ? JSON.stringify(decoder.decode(value))
      : Array.isArray(value)
      ? String(value[0])
      : JSON.stringify(value);
    entries.push(`${name}:${rendered}`);
  }
  return entries.length > 0 ? `{${entries.join(",")}}` : undefined;
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** `@X`: the strftime(3) conversion `%X` in the C locale, plus `@N` for nanoseconds. */
function strftime(conversion: string, epochMs: number): string {
  const d = new Date(Math.floor(epochMs));
  const hour12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  switch (conversion) {
    case "@":
      return "@";
    case "N": {
      const nanos = Math.floor((epochMs - Math.floor(epochMs / 1000) * 1000) * 1e6);
      return String(nanos).padStart(9, "0");
    }
    case "Y":
      return String(d.getFullYear());
    case "y":
      return two(d.getFullYear() % 100);
    case "m":
      return two(d.getMonth() + 1);
    case "d":
      return two(d.getDate());
    case "e":
      return String(d.getDate()).padStart(2, " ");
    case "H":
      return two(d.getHours());
    case "I":
      return two(hour12);
    case "M":
      return two(d.getMinutes());
    case "S":
      return two(d.getSeconds());
    case "p":
      return d.getHours() < 12 ? "AM" : "PM";
    case "j": {
      const start = new Date(d.getFullYear(), 0, 1);
      return String(Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1).padStart(3, "0");
    }
    case "s":
      return String(Math.floor(epochMs / 1000));
    case "z":
      return utcOffset(d);
    case "a":
      return DAYS[d.getDay()]!.slice(0, 3);
    case "A":
      return DAYS[d.getDay()]!;
    case "b":
    case "h":
      return MONTHS[d.getMonth()]!.slice(0, 3);
    case "B":
      return MONTHS[d.getMonth()]!;
    case "F":
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    case "T":
      return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    case "R":
      return `${two(d.getHours())}:${two(d.getMinutes())}`;
    case "D":
      return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)}`;
    case "u":
      return String(d.getDay() === 0 ? 7 : d.getDay());
    case "w":
      return String(d.getDay());
    case "n":
      return "\n";
    case "t":
      return "\t";
    default:
      return `@${conversion}`;
  }
}
