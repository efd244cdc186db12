/** Framer: chunk boundaries anywhere, many packets per chunk, size limit before the body. */

import assert, { deepStrictEqual, throws } from "node:assert/strict";
import { CodecError, encodePacket, type Frame, Framer, type Packet } from "../../codec/mod.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

const PACKETS: Packet[] = [
  { type: "pingreq" },
  { type: "publish", topic: "a/b", payload: utf8("hello"), qos: 0, retain: false, dup: false },
  // 300-byte payload: a two-byte Remaining Length.
  {
    type: "publish",
    topic: "big",
    payload: new Uint8Array(300).fill(7),
    qos: 1,
    retain: true,
    dup: false,
    packetId: 5,
  },
  { type: "puback", packetId: 5, reasonCode: 0x10 },
  { type: "disconnect", reasonCode: 0 },
  {
    type: "subscribe",
    packetId: 9,
    subscriptions: [
      { topicFilter: "x/#", qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1 },
    ],
  },
];
const ENCODED = PACKETS.map((p) => encodePacket(p, 5));
const STREAM = concat(ENCODED);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** The frames each encoded packet must yield: first byte and the bytes after the length. */
const EXPECTED: Frame[] = ENCODED.map((bytes) => {
  let pos = 1;
  while ((bytes[pos++]! & 0x80) !== 0);
  return { header: bytes[0]!, body: bytes.slice(pos) };
});

function drain(framer: Framer, into: Frame[]): void {
  for (let frame = framer.next(); frame !== undefined; frame = framer.next()) into.push(frame);
}

function assertCodecError(fn: () => unknown, reasonCode: number): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof CodecError, `expected a CodecError, got ${caught}`);
  deepStrictEqual(caught.reasonCode, reasonCode, caught.message);
  return caught;
}

Deno.test("Framer.next() yields every packet of one chunk holding many packets", () => {
  const framer = new Framer();
  framer.push(STREAM);
  const frames: Frame[] = [];
  drain(framer, frames);
  deepStrictEqual(frames, EXPECTED);
  deepStrictEqual(framer.bufferedBytes, 0);
});

Deno.test("Framer.next() returns views of the pushed chunk for frames inside it (no copy)", () => {
  const framer = new Framer();
  framer.push(STREAM);
  let offset = 0;
  for (const encoded of ENCODED) {
    const frame = framer.next()!;
    assert(frame.body.buffer === STREAM.buffer, "frame body must share the chunk's buffer");
    deepStrictEqual(frame.body.byteOffset + frame.body.length, offset + encoded.length);
    offset += encoded.length;
  }
});

Deno.test("Framer.next() reassembles the stream split at every byte boundary", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const framer = new Framer();
    const frames: Frame[] = [];
    framer.push(STREAM.subarray(0, split));
    drain(framer, frames);
    framer.push(STREAM.subarray(split));
    drain(framer, frames);
    deepStrictEqual(frames, EXPECTED, `split at ${split}`);
    deepStrictEqual(framer.bufferedBytes, 0);
  }
});

Deno.test("Framer.next() reassembles the stream split at every pair of byte boundaries", () => {
  // Splits inside both the header and body of each packet, including the 2-byte varint.
  for (let a = 0; a <= STREAM.length; a += 3) {
    for (let b = a; b <= STREAM.length; b += 7) {
      const framer = new Framer();
      const frames: Frame[] = [];
      for (const part of [STREAM.subarray(0, a), STREAM.subarray(a, b), STREAM.subarray(b)]) {
        framer.push(part);
        drain(framer, frames);
      }
      deepStrictEqual(frames, EXPECTED, `split at ${a} and ${b}`);
    }
  }
});

Deno.test("Framer.next() handles input arriving one byte at a time", () => {
  const framer = new Framer();
  const frames: Frame[] = [];
  for (let i = 0; i < STREAM.length; i++) {
    framer.push(STREAM.subarray(i, i + 1));
    drain(framer, frames);
    deepStrictEqual(
      framer.bufferedBytes,
      i + 1 - frames.reduce((n, f) => n + 1 + (f.body.length > 127 ? 2 : 1) + f.body.length, 0),
    );
  }
  deepStrictEqual(frames, EXPECTED);
});

Deno.test("Framer.next() handles all bytes pushed one at a time before the first call", () => {
  const framer = new Framer();
  for (let i = 0; i < STREAM.length; i++) framer.push(STREAM.subarray(i, i + 1));
  deepStrictEqual(framer.bufferedBytes, STREAM.length);
  const frames: Frame[] = [];
  drain(framer, frames);
  deepStrictEqual(frames, EXPECTED);
});

Deno.test("Framer.bufferedBytes counts a partial packet and Framer.push() ignores empty chunks", () => {
  const framer = new Framer();
  framer.push(new Uint8Array(0));
  deepStrictEqual(framer.bufferedBytes, 0);
  const big = ENCODED[2]!;
  framer.push(big.subarray(0, 100));
  deepStrictEqual(framer.next(), undefined);
  deepStrictEqual(framer.bufferedBytes, 100);
  framer.push(big.subarray(100));
  deepStrictEqual(framer.next(), EXPECTED[2]);
  deepStrictEqual(framer.bufferedBytes, 0);
  deepStrictEqual(framer.next(), undefined);
});

Deno.test("Framer.next() rejects an oversize packet with PacketTooLarge before its body arrives", () => {
  const framer = new Framer({ maximumPacketSize: 100 });
  // PUBLISH with Remaining Length 1000 (e8 07): only the fixed header has arrived.
  framer.push(new Uint8Array([0x30, 0xe8, 0x07]));
  const error = assertCodecError(() => framer.next(), 0x95);
  assert(error.message.includes("1003"), error.message);
  // The framer stays failed: the stream cannot be resynchronised.
  assertCodecError(() => framer.next(), 0x95);
  deepStrictEqual(framer.bufferedBytes, 0);
});

Deno.test("Framer.next() rejects an oversize packet whose header spans chunks", () => {
  const framer = new Framer({ maximumPacketSize: 100 });
  framer.push(new Uint8Array([0x30]));
  deepStrictEqual(framer.next(), undefined);
  framer.push(new Uint8Array([0xe8]));
  deepStrictEqual(framer.next(), undefined);
  framer.push(new Uint8Array([0x07]));
  assertCodecError(() => framer.next(), 0x95);
});

Deno.test("Framer accepts a packet of exactly maximumPacketSize and rejects one byte more", () => {
  // 2 header bytes + 98 body bytes = 100.
  const exact = new Uint8Array(100);
  exact.set([0x30, 98, 0x00, 0x01, 0x74]);
  const ok = new Framer({ maximumPacketSize: 100 });
  ok.push(exact);
  deepStrictEqual(ok.next()?.body.length, 98);
  const tooBig = new Framer({ maximumPacketSize: 99 });
  tooBig.push(exact);
  assertCodecError(() => tooBig.next(), 0x95);
});

Deno.test("Framer.maximumPacketSize can be lowered after construction", () => {
  const framer = new Framer();
  framer.push(ENCODED[2]!);
  framer.maximumPacketSize = 50;
  assertCodecError(() => framer.next(), 0x95);
});

Deno.test("Framer.next() rejects a Remaining Length longer than 4 bytes with MalformedPacket", () => {
  const bytes = new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const whole = new Framer();
  whole.push(bytes);
  assertCodecError(() => whole.next(), 0x81);
  // The same through the byte-at-a-time path.
  const split = new Framer();
  let caught = false;
  for (const byte of bytes) {
    split.push(new Uint8Array([byte]));
    try {
      split.next();
    } catch (error) {
      assert(error instanceof CodecError);
      deepStrictEqual(error.reasonCode, 0x81);
      caught = true;
      break;
    }
  }
  assert(caught, "expected a CodecError");
});

Deno.test("Framer.next() accepts the largest 4-byte Remaining Length header without buffering a body", () => {
  // ff ff ff 7f = 268,435,455; with a small limit this must be refused from the header alone.
  const framer = new Framer({ maximumPacketSize: 1024 });
  framer.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f]));
  assertCodecError(() => framer.next(), 0x95);
});

Deno.test("Framer.next() returns frames with empty bodies for zero-length packets", () => {
  const framer = new Framer();
  framer.push(new Uint8Array([0xc0, 0x00, 0xd0]));
  deepStrictEqual(framer.next(), { header: 0xc0, body: new Uint8Array(0) });
  deepStrictEqual(framer.next(), undefined);
  framer.push(new Uint8Array([0x00]));
  deepStrictEqual(framer.next(), { header: 0xd0, body: new Uint8Array(0) });
});

Deno.test("Framer.push() never throws, even after the framer failed", () => {
  const framer = new Framer({ maximumPacketSize: 10 });
  framer.push(new Uint8Array([0x30, 0x7f]));
  throws(() => framer.next(), CodecError);
  framer.push(new Uint8Array([0xc0, 0x00]));
  throws(() => framer.next(), CodecError);
});
