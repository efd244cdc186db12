/**
 * Writing the MQTT data representations (section 1.5) into a buffer whose exact size was computed
 * beforehand, so that each packet is allocated once.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { MAX_REMAINING_LENGTH, MAX_STRING_LENGTH } from "./constants.ts";
import type { UserProperty } from "./types.ts";

const MALFORMED = 0x81;
const utf8Encoder = new TextEncoder();

/**
 * Number of bytes `s` takes in UTF-8 (without the two-byte length prefix). Throws MalformedPacket
 * for strings MQTT forbids: U+0000 [MQTT-1.5.4-2], lone surrogates [MQTT-1.5.4-1], longer than
 * 65,535 bytes.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./writer.ts";
 * utf8Length("a/€", "topic"); // 5
 * ```
 */
export function utf8Length(s: string, what: string): number {
  const n = s.length;
  let length = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw new CodecError(MALFORMED, `Cannot encode ${what}: contains U+0000`);
    } else if (c < 0x800) {
      length += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        throw new CodecError(MALFORMED, `Cannot encode ${what}: contains a lone UTF-16 surrogate`);
      }
      // The pair takes two UTF-16 units and four UTF-8 bytes.
      length += 2;
      i++;
    } else {
      length += 2;
    }
  }
  if (length > MAX_STRING_LENGTH) {
    throw new CodecError(
      MALFORMED,
      `Cannot encode ${what}: ${length} bytes exceeds the maximum of ${MAX_STRING_LENGTH}`,
    );
  }
  return length;
}

/** Number of bytes `value` takes as a Variable Byte Integer (1.5.5). */
export function varintLength(value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}

/** Throws unless `length` fits the Remaining Length field. */
export function checkRemainingLength(length: number, what: string): void {
  if (length > MAX_REMAINING_LENGTH) {
    throw new CodecError(
      0x95,
      `Cannot encode ${what}: remaining length ${length} exceeds the maximum of ${MAX_REMAINING_LENGTH}`,
    );
  }
}

/**
 * Writes into a fixed-size buffer. Sizes are computed by the caller, so writes are not
 * bounds-checked beyond what typed arrays do.
 *
 * @example
 * ```ts
 * import { Writer } from "./writer.ts";
 * const writer = new Writer(5);
 * writer.u8(0x30);
 * writer.utf8("ab", 2);
 * writer.bytes; // Uint8Array [0x30, 0x00, 0x02, 0x61, 0x62]
 * ```
 */
export class Writer {
  #buf: Uint8Array;
  #pos = 0;

  constructor(size: number) {
    this.#buf = new Uint8Array(size);
  }

  /**
   * A writer for a whole packet of `remainingLength` body bytes with the fixed header (first byte
   * `header`, then the Remaining Length) already written.
   */
  static forPacket(header: number, remainingLength: number, what: string): Writer {
    checkRemainingLength(remainingLength, what);
    const writer = new Writer(1 + varintLength(remainingLength) + remainingLength);
    writer.u8(header);
    writer.varint(remainingLength);
    return writer;
  }

  /** The whole buffer. */
  get bytes(): Uint8Array {
    return this.#buf;
  }

  /** Offset of the next byte to write. */
  get position(): number {
    return this.#pos;
  }

  /** Writes one byte. */
  u8(value: number): void {
    this.#buf[this.#pos++] = value;
  }

  /** Writes a big-endian Two Byte Integer. */
  u16(value: number): void {
    const b = this.#buf;
    b[this.#pos++] = value >>> 8;
    b[this.#pos++] = value;
  }

  /** Writes a big-endian Four Byte Integer. */
  u32(value: number): void {
    const b = this.#buf;
    b[this.#pos++] = value >>> 24;
    b[this.#pos++] = value >>> 16;
    b[this.#pos++] = value >>> 8;
    b[this.#pos++] = value;
  }

  /** Writes a Variable Byte Integer in its shortest form [MQTT-1.5.5-1]. */
  varint(value: number): void {
    this.#pos = writeVarint(this.#buf, this.#pos, value);
  }

  /** Writes a UTF-8 string with its length prefix; `byteLength` comes from {@linkcode utf8Length}. */
  utf8(s: string, byteLength: number): void {
    this.u16(byteLength);
    this.#pos = writeUtf8(this.#buf, this.#pos, s, byteLength);
  }

  /** Writes Binary Data with its two-byte length prefix. */
  binary(data: Uint8Array): void {
    if (data.length > MAX_STRING_LENGTH) {
      throw new CodecError(
        MALFORMED,
        `Cannot encode binary data: ${data.length} bytes exceeds the maximum of ${MAX_STRING_LENGTH}`,
      );
    }
    this.u16(data.length);
    this.raw(data);
  }

  /** Writes a string pair; the lengths come from {@linkcode utf8Length}. */
  pair(pair: UserProperty, nameLength: number, valueLength: number): void {
    this.utf8(pair[0], nameLength);
    this.utf8(pair[1], valueLength);
  }

  /** Copies bytes without a length prefix. */
  raw(data: Uint8Array): void {
    this.#buf.set(data, this.#pos);
    this.#pos += data.length;
  }
}

/**
 * Throws ProtocolError unless `packetId` is a valid packet identifier 1..65535 [MQTT-2.2.1-3].
 */
export function checkPacketId(packetId: number | undefined, what: string): number {
  if (packetId === undefined || !(packetId >= 1 && packetId <= 0xffff) || packetId % 1 !== 0) {
    throw new CodecError(
      0x82,
      `Cannot encode ${what}: packet identifier ${packetId} is not an integer 1..65535 [MQTT-2.2.1-3]`,
    );
  }
  return packetId;
}

/** Writes `value` as a Variable Byte Integer at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    buf[pos++] = byte;
  } while (value > 0);
  return pos;
}

/**
 * Writes the UTF-8 bytes of `s` (no length prefix) at `pos`; `byteLength` comes from
 * {@linkcode utf8Length}. Returns the position after it.
 */
export function writeUtf8(buf: Uint8Array, pos: number, s: string, byteLength: number): number {
  const n = s.length;
  if (byteLength === n) {
    // ASCII: one byte per UTF-16 unit.
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
  } else {
    utf8Encoder.encodeInto(s, buf.subarray(pos, pos + byteLength));
  }
  return pos + byteLength;
}
