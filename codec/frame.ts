/**
 * Cuts a byte stream into control packets: fixed header byte, Remaining Length, body. Framing is
 * kept apart from decoding so that the size limit is enforced before a body is buffered.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { MAX_PACKET_SIZE } from "./constants.ts";
import type { Frame } from "./types.ts";

const MALFORMED = 0x81;
const PACKET_TOO_LARGE = 0x95;
/** First buffer for a body spanning reads; it doubles as more of the body arrives. */
const INITIAL_PARTIAL = 16 * 1024;

/** Options of {@linkcode Framer}. */
export interface FramerOptions {
  /**
   * Largest whole packet (fixed header included) accepted, as the MQTT 5 Maximum Packet Size
   * (3.1.2.11.4). Defaults to the protocol maximum, 268,435,460 bytes.
   */
  maximumPacketSize?: number;
}

/**
 * Incremental framer. `push()` buffers bytes as they arrive; `next()` returns complete frames.
 *
 * A frame that lies wholly inside one pushed chunk is a `subarray` of that chunk, without a copy;
 * only a frame spanning chunks is copied, into a buffer that grows with the bytes received (never
 * beyond the Remaining Length), so memory held for a partial packet is bounded by what the peer
 * actually sent and by the maximum packet size.
 *
 * @example
 * ```ts
 * import { Framer } from "./frame.ts";
 * const framer = new Framer({ maximumPacketSize: 1024 });
 * framer.push(new Uint8Array([0xc0])); // PINGREQ, split across two chunks
 * framer.next(); // undefined: incomplete
 * framer.push(new Uint8Array([0x00, 0xd0, 0x00]));
 * framer.next(); // { header: 0xc0, body: Uint8Array [] }
 * framer.next(); // { header: 0xd0, body: Uint8Array [] }
 * framer.next(); // undefined
 * ```
 */
export class Framer {
  /** Largest whole packet accepted; may be lowered once a CONNECT has been processed. */
  maximumPacketSize: number;

  /** Pushed chunks not fully consumed; `#chunks[#head]` is read from `#offset`. */
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #queued = 0;

  /** A fixed header that spans chunks: bytes read so far (at most 5), first byte, length so far. */
  #headerLength = 0;
  #headerByte = 0;
  #lengthSoFar = 0;

  /** Body being assembled from several chunks, once its size is known. */
  #partial: Uint8Array | undefined;
  /** Remaining Length of the partial body; `#partial` may still be smaller. */
  #partialLength = 0;
  #partialFilled = 0;
  #partialHeader = 0;
  /** Fixed header size of the partial packet, still counted in `bufferedBytes`. */
  #partialHeaderSize = 0;

  #failed: CodecError | undefined;

  constructor(options: FramerOptions = {}) {
    this.maximumPacketSize = options.maximumPacketSize ?? MAX_PACKET_SIZE;
  }

  /** Bytes pushed but not yet returned in a frame. */
  get bufferedBytes(): number {
    return this.#queued + this.#headerLength +
      (this.#partial === undefined ? 0 : this.#partialHeaderSize + this.#partialFilled);
  }

  /** Buffers `chunk`, which the caller must not modify afterwards. Never throws. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
  }

  /**
   * The next complete frame, or undefined when more bytes are needed. Throws CodecError with
   * MalformedPacket for a Remaining Length longer than four bytes (1.5.5) and PacketTooLarge as
   * soon as the fixed header announces a packet larger than `maximumPacketSize`. After a throw the
   * stream cannot be resynchronised, so every later call throws the same error.
   */
  next(): Frame | undefined {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#partial !== undefined) return this.#fill();
    if (this.#headerLength === 0) {
      const frame = this.#fromChunk();
      if (frame !== null) return frame;
    }
    return this.#slowHeader();
  }

  /**
   * Fast path: the whole fixed header and body inside the current chunk. Returns null when the
   * header is not complete in the chunk (the slow path takes over), undefined when no bytes are
   * queued or the body needs more chunks (then a partial buffer has been started).
   */
  #fromChunk(): Frame | undefined | null {
    const chunk = this.#chunks[this.#head];
    if (chunk === undefined) return undefined;
    const start = this.#offset;
    const end = chunk.length;
    let pos = start + 1;
    let length = 0;
    let multiplier = 1;
    for (let i = 0;; i++) {
      if (pos >= end) return null;
      const byte = chunk[pos++]!;
      length += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) break;
      if (i === 3) throw this.#fail(tooLongVarint());
      multiplier *= 128;
    }
    const header = chunk[start]!;
    this.#checkSize(pos - start + length);
    if (end - pos >= length) {
      const bodyEnd = pos + length;
      this.#consume(bodyEnd - start, chunk, bodyEnd);
      return { header, body: chunk.subarray(pos, bodyEnd) };
    }
    this.#consume(pos - start, chunk, pos);
    this.#startPartial(header, pos - start, length);
    return this.#fill();
  }

  /** Slow path: the fixed header spans chunks; gather it byte by byte. */
  #slowHeader(): Frame | undefined {
    for (;;) {
      const chunk = this.#chunks[this.#head];
      if (chunk === undefined) return undefined;
      const byte = chunk[this.#offset]!;
      this.#consume(1, chunk, this.#offset + 1);
      const index = this.#headerLength++;
      if (index === 0) {
        this.#headerByte = byte;
        this.#lengthSoFar = 0;
        continue;
      }
      // Varint byte `index` (1..4) carries 7 bits of weight 128^(index-1).
      this.#lengthSoFar += (byte & 0x7f) * 128 ** (index - 1);
      if ((byte & 0x80) !== 0) {
        if (index === 4) throw this.#fail(tooLongVarint());
        continue;
      }
      const length = this.#lengthSoFar;
      const headerLength = this.#headerLength;
      this.#headerLength = 0;
      this.#checkSize(headerLength + length);
      const header = this.#headerByte;
      if (length === 0) return { header, body: new Uint8Array(0) };
      const next = this.#chunks[this.#head];
      if (next !== undefined && next.length - this.#offset >= length) {
        const start = this.#offset;
        this.#consume(length, next, start + length);
        return { header, body: next.subarray(start, start + length) };
      }
      this.#startPartial(header, headerLength, length);
      return this.#fill();
    }
  }

  #startPartial(header: number, headerSize: number, length: number): void {
    this.#partialHeaderSize = headerSize;
    this.#partialLength = length;
    // The buffer grows with the bytes that actually arrive: a 5-byte header announcing 256 MiB
    // must not make a peer that never sends the body cost 256 MiB.
    this.#partial = new Uint8Array(Math.min(length, Math.max(INITIAL_PARTIAL, this.#queued)));
    this.#partialFilled = 0;
    this.#partialHeader = header;
  }

  /** Copies queued bytes into the partial body; returns the frame once it is complete. */
  #fill(): Frame | undefined {
    let partial = this.#partial!;
    const length = this.#partialLength;
    while (this.#partialFilled < length) {
      const chunk = this.#chunks[this.#head];
      if (chunk === undefined) return undefined;
      const n = Math.min(chunk.length - this.#offset, length - this.#partialFilled);
      if (this.#partialFilled + n > partial.length) {
        const grown = new Uint8Array(
          Math.min(length, Math.max(partial.length * 2, this.#partialFilled + this.#queued)),
        );
        grown.set(partial.subarray(0, this.#partialFilled));
        this.#partial = partial = grown;
      }
      partial.set(chunk.subarray(this.#offset, this.#offset + n), this.#partialFilled);
      this.#partialFilled += n;
      this.#consume(n, chunk, this.#offset + n);
    }
    this.#partial = undefined;
    this.#partialFilled = 0;
    return { header: this.#partialHeader, body: partial };
  }

  /** Marks `n` bytes of `chunk` consumed, `newOffset` being the offset after them. */
  #consume(n: number, chunk: Uint8Array, newOffset: number): void {
    this.#queued -= n;
    if (newOffset < chunk.length) {
      this.#offset = newOffset;
      return;
    }
    this.#offset = 0;
    this.#head++;
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#head = 0;
    } else if (this.#head > 64) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  #checkSize(total: number): void {
    if (total > this.maximumPacketSize) {
      throw this.#fail(
        new CodecError(
          PACKET_TOO_LARGE,
          `Cannot accept packet: size ${total} exceeds the maximum packet size ${this.maximumPacketSize}`,
        ),
      );
    }
  }

  #fail(error: CodecError): CodecError {
    this.#failed = error;
    // Drop what is buffered: the stream cannot be resynchronised [MQTT-4.13.1-1].
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#queued = 0;
    this.#headerLength = 0;
    this.#partial = undefined;
    this.#partialFilled = 0;
    return error;
  }
}

function tooLongVarint(): CodecError {
  return new CodecError(
    MALFORMED,
    "Cannot parse remaining length: variable byte integer longer than 4 bytes",
  );
}
