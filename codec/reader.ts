/**
 * Bounds-checked reading of the MQTT data representations (section 1.5): bytes, two- and
 * four-byte integers, Variable Byte Integers, UTF-8 strings, binary data and string pairs.
 * Every read past the end throws a {@linkcode CodecError} with MalformedPacket.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import type { UserProperty } from "./types.ts";

const MALFORMED = 0x81;

/** Decodes well-formed UTF-8 only; keeps a leading BOM, which must not be skipped [MQTT-1.5.4-3]. */
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes `bytes[start, end)` as an MQTT UTF-8 string: ill-formed UTF-8, including encoded UTF-16
 * surrogates, is rejected [MQTT-1.5.4-1], and so is U+0000 [MQTT-1.5.4-2].
 *
 * Short ASCII strings (topics, client ids) are built with `String.fromCharCode`, which is several
 * times faster than `TextDecoder` for them.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./reader.ts";
 * decodeUtf8(new Uint8Array([0x61, 0x2f, 0x62]), 0, 3, "topic"); // "a/b"
 * ```
 */
export function decodeUtf8(
  bytes: Uint8Array,
  start: number,
  end: number,
  what: string,
  suffix = "",
): string {
  if (end - start <= 48) {
    let i = start;
    for (; i < end; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) break;
      if (b === 0) throw nulError(what + suffix);
    }
    if (i === end) {
      return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
    }
  }
  let text: string;
  try {
    text = utf8Decoder.decode(bytes.subarray(start, end));
  } catch {
    throw new CodecError(
      MALFORMED,
      `Cannot parse ${what}${suffix}: not well-formed UTF-8 [MQTT-1.5.4-1]`,
    );
  }
  // A zero byte in well-formed UTF-8 is always U+0000.
  if (text.indexOf("\0") !== -1) throw nulError(what + suffix);
  return text;
}

function nulError(what: string): CodecError {
  return new CodecError(MALFORMED, `Cannot parse ${what}: contains U+0000 [MQTT-1.5.4-2]`);
}

/**
 * A cursor over one packet body. Reads advance the cursor; a read that needs more bytes than are
 * left throws MalformedPacket naming the field, e.g. `Cannot parse topic: length 9 exceeds
 * remaining 4`.
 *
 * @example
 * ```ts
 * import { Reader } from "./reader.ts";
 * const reader = new Reader(new Uint8Array([0x00, 0x01, 0x61, 0x07]));
 * reader.utf8("topic"); // "a"
 * reader.u8("flags"); // 7
 * reader.expectEnd("PUBLISH"); // no bytes left, no error
 * ```
 */
export class Reader {
  #bytes: Uint8Array;
  #pos: number;
  #end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
  }

  /** Offset of the next byte to read. */
  get position(): number {
    return this.#pos;
  }

  /** Number of bytes not read yet. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  /** Throws unless `n` bytes are left; `suffix` completes `what` only when a message is built. */
  #need(n: number, what: string, suffix = ""): void {
    if (this.#end - this.#pos < n) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${what}${suffix}: needs ${n} bytes, ${this.#end - this.#pos} remaining`,
      );
    }
  }

  /** Reads one byte. */
  u8(what: string): number {
    this.#need(1, what);
    return this.#bytes[this.#pos++]!;
  }

  /** Reads a big-endian Two Byte Integer (1.5.2). */
  u16(what: string): number {
    this.#need(2, what);
    const b = this.#bytes;
    const p = this.#pos;
    this.#pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  /**
   * Reads a Packet Identifier, which must not be 0 [MQTT-2.2.1-3]. Mosquitto answers 0 with a
   * protocol error, and so does midge: ProtocolError rather than MalformedPacket.
   */
  packetId(what: string): number {
    this.#need(2, what, " packet identifier");
    const b = this.#bytes;
    const p = this.#pos;
    this.#pos = p + 2;
    const id = (b[p]! << 8) | b[p + 1]!;
    if (id === 0) {
      throw new CodecError(
        0x82,
        `Cannot parse ${what}: packet identifier must not be 0 [MQTT-2.2.1-3]`,
      );
    }
    return id;
  }

  /** Reads a big-endian Four Byte Integer (1.5.3). */
  u32(what: string): number {
    this.#need(4, what);
    const b = this.#bytes;
    const p = this.#pos;
    this.#pos = p + 4;
    return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /**
   * Reads a Variable Byte Integer (1.5.5) of at most four bytes. Non-minimal encodings are
   * accepted, as Mosquitto does; the minimum-length rule [MQTT-1.5.5-1] binds the sender.
   */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw new CodecError(
      MALFORMED,
      `Cannot parse ${what}: variable byte integer longer than 4 bytes`,
    );
  }

  /** Reads a UTF-8 Encoded String (1.5.4): two-byte length, then well-formed UTF-8. */
  utf8(what: string, suffix = ""): string {
    const length = this.#length(what, suffix);
    const start = this.#pos;
    this.#pos = start + length;
    return decodeUtf8(this.#bytes, start, start + length, what, suffix);
  }

  /** Reads Binary Data (1.5.6): two-byte length, then the bytes as a view without a copy. */
  binary(what: string): Uint8Array {
    const length = this.#length(what);
    const start = this.#pos;
    this.#pos = start + length;
    return this.#bytes.subarray(start, start + length);
  }

  /** Reads a UTF-8 String Pair (1.5.7). */
  pair(what: string): UserProperty {
    const name = this.utf8(what, " name");
    return [name, this.utf8(what, " value")];
  }

  /** Returns the next `n` bytes as a view and skips them. */
  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const start = this.#pos;
    this.#pos = start + n;
    return this.#bytes.subarray(start, start + n);
  }

  /**
   * Returns a reader over the next `length` bytes and skips them here, so that reads of a nested
   * structure (the properties) cannot run past its declared length.
   */
  sub(length: number, what: string): Reader {
    if (length > this.#end - this.#pos) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${what}: length ${length} exceeds remaining ${this.#end - this.#pos}`,
      );
    }
    const start = this.#pos;
    this.#pos = start + length;
    return new Reader(this.#bytes, start, start + length);
  }

  /** Returns all bytes not read yet as a view and moves to the end. */
  rest(): Uint8Array {
    const start = this.#pos;
    this.#pos = this.#end;
    return this.#bytes.subarray(start, this.#end);
  }

  /** Throws MalformedPacket if any byte is left after the last field of `what`. */
  expectEnd(what: string): void {
    const left = this.#end - this.#pos;
    if (left !== 0) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${what}: ${left} unexpected bytes after the last field`,
      );
    }
  }

  #length(what: string, suffix = ""): number {
    if (this.#end - this.#pos < 2) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${what}${suffix} length: needs 2 bytes, ${this.#end - this.#pos} remaining`,
      );
    }
    const b = this.#bytes;
    const p = this.#pos;
    const length = (b[p]! << 8) | b[p + 1]!;
    this.#pos = p + 2;
    if (length > this.#end - this.#pos) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${what}${suffix}: length ${length} exceeds remaining ${
          this.#end - this.#pos
        }`,
      );
    }
    return length;
  }
}
