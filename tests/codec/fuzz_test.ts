/**
 * Bounded, seeded fuzz test of the codec: random byte streams through a `Framer` in random chunk
 * sizes, and bit-flipped, truncated, extended and spliced encodings of valid packets straight
 * into `decodePacket`. Whatever happens, the codec may only throw `CodecError` (a receiver closes
 * the connection on a malformed packet [MQTT-4.13.1-1]; it must not crash), the framer never holds
 * more than one packet's worth of bytes, and every packet that decodes re-encodes and decodes to
 * an equal packet.
 *
 * About 200,000 frames in all, each decoded at every protocol level; the work is fixed by the
 * seed, so the run time does not depend on the machine beyond its speed.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  CodecError,
  decodePacket,
  encodePacket,
  type Frame,
  Framer,
  type Packet,
  type ProtocolVersion,
} from "../../codec/mod.ts";
import { concat, generatePacket, mutate, packetTypesOf, Random, varint } from "./_generate.ts";

const MAX_PACKET_SIZE = 4096;
const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];
/** Segments of random streams fed to framers (about 88,000 frames, each decoded 3 times). */
const SEGMENTS = 250_000;
/** Mutated encodings of valid packets decoded directly. */
const MUTATIONS = 100_000;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Collects problems, keeping the first example of each distinct kind for the report. */
class Findings {
  readonly #examples = new Map<string, string>();
  readonly #counts = new Map<string, number>();

  add(kind: string, example: string): void {
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    if (!this.#examples.has(kind)) this.#examples.set(kind, example);
  }

  assertNone(): void {
    if (this.#examples.size === 0) return;
    const lines = [...this.#examples].slice(0, 10).map(([kind, example]) =>
      `${kind} (x${this.#counts.get(kind)}):\n    ${example}`
    );
    assert.fail(`${this.#examples.size} kinds of codec failure:\n  ${lines.join("\n  ")}`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A failure kind: the message with numbers masked, so that one bug is one kind. */
function kindOf(prefix: string, error: unknown): string {
  return `${prefix} ${describe(error).replace(/\d+/g, "N").slice(0, 120)}`;
}

/**
 * Decodes `frame` at `version`; a CodecError is fine, any other throw is a finding. A packet that
 * decodes must re-encode, and decoding that again must give an equal packet.
 */
function decodeChecked(frame: Frame, version: ProtocolVersion, findings: Findings): boolean {
  const where = () => `v${version} header ${frame.header.toString(16)} body [${hex(frame.body)}]`;
  let packet: Packet;
  try {
    packet = decodePacket(frame, version);
  } catch (error) {
    if (error instanceof CodecError) {
      if (typeof error.reasonCode !== "number") {
        findings.add("CodecError without reasonCode", where());
      }
      return false;
    }
    findings.add(
      kindOf("decodePacket threw non-CodecError", error),
      `${where()}: ${describe(error)}`,
    );
    return false;
  }
  // A CONNECT carries its own protocol level; every other packet uses the connection's.
  const level = packet.type === "connect" ? packet.protocolVersion : version;
  let bytes: Uint8Array;
  try {
    bytes = encodePacket(packet, level);
  } catch (error) {
    findings.add(
      kindOf("decoded packet does not re-encode:", error),
      `${where()}: ${describe(error)}`,
    );
    return true;
  }
  try {
    const framer = new Framer({});
    framer.push(bytes);
    const again = framer.next();
    assert.ok(again !== undefined && framer.bufferedBytes === 0, "re-encoding is not one frame");
    assert.deepStrictEqual(decodePacket(again, level), packet);
  } catch (error) {
    findings.add(
      `re-encoded ${packet.type} does not decode to an equal packet`,
      `${where()} → [${hex(bytes)}]: ${describe(error).slice(0, 400)}`,
    );
  }
  return true;
}

function validEncoding(rng: Random): { bytes: Uint8Array; version: ProtocolVersion } {
  const version = rng.pick(VERSIONS);
  const packet = generatePacket(rng, version, rng.pick(packetTypesOf(version)), {
    maxPayload: 64,
    largePayloads: false,
  });
  return { bytes: encodePacket(packet, version), version };
}

/** A piece of a random stream: random frame, random bytes, valid or mutated packet. */
function streamSegment(rng: Random): Uint8Array {
  const roll = rng.float();
  if (roll < 0.45) {
    // A plausible fixed header with a random body: any type and flags.
    const length = rng.chance(0.03) ? rng.int(0, 6000) : rng.int(0, 48);
    return concat([[rng.int(0, 255)], varint(length), rng.bytes(length)]);
  }
  if (roll < 0.55) return rng.bytes(rng.int(1, 24));
  if (roll < 0.75) return validEncoding(rng).bytes;
  return mutate(rng, validEncoding(rng).bytes);
}

Deno.test("Framer and decodePacket() survive random byte streams in random chunks", () => {
  const rng = new Random(0x5eed_0001);
  const findings = new Findings();
  let frames = 0;
  let decoded = 0;
  let framerErrors = 0;
  let framer = new Framer({ maximumPacketSize: MAX_PACKET_SIZE });
  for (let i = 0; i < SEGMENTS; i++) {
    const segment = streamSegment(rng);
    // Feed the segment in random chunks, mostly small so headers and bodies split anywhere. After
    // a framer error the connection would be closed, so the rest of the segment is dropped and a
    // new framer starts at the next one.
    let failed = false;
    for (let offset = 0; offset < segment.length && !failed;) {
      const size = rng.chance(0.7) ? rng.int(1, 8) : rng.int(9, 512);
      const chunk = segment.slice(offset, offset + size);
      offset += size;
      framer.push(chunk);
      // Each frame takes at least two bytes, so a well-behaved framer stops within this bound.
      for (let guard = framer.bufferedBytes + 1; guard >= 0; guard--) {
        let frame: Frame | undefined;
        try {
          frame = framer.next();
        } catch (error) {
          if (!(error instanceof CodecError)) {
            findings.add(kindOf("Framer.next threw non-CodecError", error), describe(error));
          }
          framerErrors++;
          framer = new Framer({ maximumPacketSize: MAX_PACKET_SIZE });
          failed = true;
          break;
        }
        if (frame === undefined) break;
        frames++;
        if (1 + varint(frame.body.length).length + frame.body.length > MAX_PACKET_SIZE) {
          findings.add("Framer yielded a frame above maximumPacketSize", `${frame.body.length}`);
        }
        for (const version of VERSIONS) if (decodeChecked(frame, version, findings)) decoded++;
        if (guard === 0) findings.add("Framer.next kept yielding frames", `${frames}`);
      }
      // What stays buffered after draining is at most one partial packet.
      if (framer.bufferedBytes > MAX_PACKET_SIZE + 5) {
        findings.add("Framer buffered more than one packet", `${framer.bufferedBytes} bytes`);
      }
    }
  }
  findings.assertNone();
  // The stream mixes valid packets in, so a framer or decoder refusing everything fails here.
  assert.ok(frames > 50_000, `only ${frames} frames`);
  assert.ok(decoded > 20_000, `only ${decoded} decoded`);
  assert.ok(framerErrors > 0, "no framer error was provoked");
});

Deno.test("decodePacket() survives mutated encodings of valid packets", () => {
  const rng = new Random(0x5eed_0002);
  const findings = new Findings();
  let decoded = 0;
  for (let i = 0; i < MUTATIONS; i++) {
    const { bytes, version } = validEncoding(rng);
    // Split off the fixed header, mutate, then frame the body with a correct Remaining Length
    // so the decoder (not the framer) sees the damage.
    let offset = 1;
    while ((bytes[offset]! & 0x80) !== 0) offset++;
    let header = bytes[0]!;
    let body = bytes.subarray(offset + 1);
    if (rng.chance(0.1)) header = (header & 0xf0) | rng.int(0, 15);
    else body = mutate(rng, body);
    const frame = { header, body };
    if (decodeChecked(frame, version, findings)) decoded++;
    // Now and then the other protocol levels too: a level mix-up must fail cleanly as well.
    if (rng.chance(0.2)) {
      for (const other of VERSIONS) if (other !== version) decodeChecked(frame, other, findings);
    }
  }
  findings.assertNone();
  assert.ok(decoded > 1000, `only ${decoded} mutated frames decoded`);
});

Deno.test("Framer reports a too-large packet from its fixed header, before the body", () => {
  const framer = new Framer({ maximumPacketSize: MAX_PACKET_SIZE });
  // PUBLISH announcing 4095 body bytes: 1 + 2 + 4095 > 4096.
  framer.push(new Uint8Array([0x30, ...varint(4095)]));
  assert.throws(
    () => framer.next(),
    (e: unknown) => e instanceof CodecError && e.reasonCode === 0x95,
  );
  assert.ok(framer.bufferedBytes <= MAX_PACKET_SIZE + 5);
});
