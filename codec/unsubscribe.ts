/**
 * UNSUBSCRIBE and UNSUBACK (sections 3.10, 3.11).
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed } from "./reason_code.ts";
import type { ProtocolVersion, UnsubackPacket, UnsubscribePacket } from "./types.ts";
import { checkPacketId, utf8Length, varintLength, Writer } from "./writer.ts";

const PROTOCOL_ERROR = 0x82;

/**
 * Decodes the body of an UNSUBSCRIBE (fixed header flags already checked). As for SUBSCRIBE the
 * filters are not validated here; the broker answers invalid ones per filter.
 *
 * @example
 * ```ts
 * import { decodeUnsubscribe } from "./unsubscribe.ts";
 * decodeUnsubscribe(new Uint8Array([0x00, 0x02, 0x00, 0x01, 0x61]), 4);
 * // { type: "unsubscribe", packetId: 2, topicFilters: ["a"] }
 * ```
 */
export function decodeUnsubscribe(body: Uint8Array, version: ProtocolVersion): UnsubscribePacket {
  const r = new Reader(body);
  const packet: UnsubscribePacket = {
    type: "unsubscribe",
    packetId: r.packetId("UNSUBSCRIBE"),
    topicFilters: [],
  };
  if (version === 5) {
    const properties = decodeProperties(r, PacketType.Unsubscribe);
    if (properties !== undefined) packet.properties = properties;
  }
  while (r.remaining > 0) packet.topicFilters.push(r.utf8("UNSUBSCRIBE topic filter"));
  if (packet.topicFilters.length === 0) {
    throw new CodecError(
      PROTOCOL_ERROR,
      "Cannot parse UNSUBSCRIBE: no topic filter in the payload [MQTT-3.10.3-2]",
    );
  }
  return packet;
}

/**
 * Encodes a whole UNSUBSCRIBE.
 *
 * @example
 * ```ts
 * import { encodeUnsubscribe } from "./unsubscribe.ts";
 * encodeUnsubscribe({ type: "unsubscribe", packetId: 2, topicFilters: ["a"] }, 4);
 * // a2 05 00 02 00 01 61
 * ```
 */
export function encodeUnsubscribe(
  packet: UnsubscribePacket,
  version: ProtocolVersion,
): Uint8Array {
  const packetId = checkPacketId(packet.packetId, "UNSUBSCRIBE");
  if (packet.topicFilters.length === 0) {
    throw new CodecError(
      PROTOCOL_ERROR,
      "Cannot encode UNSUBSCRIBE: no topic filters [MQTT-3.10.3-2]",
    );
  }
  const propLength = version === 5
    ? propertiesLength(packet.properties, PacketType.Unsubscribe)
    : 0;
  let remaining = 2 + (version === 5 ? varintLength(propLength) + propLength : 0);
  const lengths = packet.topicFilters.map((f) => utf8Length(f, "UNSUBSCRIBE topic filter"));
  for (const length of lengths) remaining += 2 + length;
  const writer = Writer.forPacket((PacketType.Unsubscribe << 4) | 2, remaining, "UNSUBSCRIBE");
  writer.u16(packetId);
  if (version === 5) writeProperties(writer, packet.properties, propLength);
  packet.topicFilters.forEach((f, i) => writer.utf8(f, lengths[i]!));
  return writer.bytes;
}

/**
 * Decodes the body of an UNSUBACK. Below MQTT 5 it is only a packet identifier and
 * `reasonCodes` is empty.
 *
 * @example
 * ```ts
 * import { decodeUnsuback } from "./unsubscribe.ts";
 * decodeUnsuback(new Uint8Array([0x00, 0x02, 0x00, 0x11]), 5);
 * // { type: "unsuback", packetId: 2, reasonCodes: [0x11] }
 * ```
 */
export function decodeUnsuback(body: Uint8Array, version: ProtocolVersion): UnsubackPacket {
  const r = new Reader(body);
  const packet: UnsubackPacket = {
    type: "unsuback",
    packetId: r.packetId("UNSUBACK"),
    reasonCodes: [],
  };
  if (version === 5) {
    const properties = decodeProperties(r, PacketType.Unsuback);
    if (properties !== undefined) packet.properties = properties;
    while (r.remaining > 0) {
      const code = r.u8("UNSUBACK reason code");
      if (!isReasonCodeAllowed(PacketType.Unsuback, code)) {
        throw new CodecError(
          PROTOCOL_ERROR,
          `Cannot parse UNSUBACK: reason code 0x${
            code.toString(16)
          } is not allowed [MQTT-3.11.3-2]`,
        );
      }
      packet.reasonCodes.push(code);
    }
    if (packet.reasonCodes.length === 0) {
      throw new CodecError(PROTOCOL_ERROR, "Cannot parse UNSUBACK: no reason codes (3.11.3)");
    }
  }
  r.expectEnd("UNSUBACK");
  return packet;
}

/**
 * Encodes a whole UNSUBACK; below MQTT 5 the reason codes and properties are not written.
 *
 * @example
 * ```ts
 * import { encodeUnsuback } from "./unsubscribe.ts";
 * encodeUnsuback({ type: "unsuback", packetId: 2, reasonCodes: [] }, 4); // b0 02 00 02
 * ```
 */
export function encodeUnsuback(packet: UnsubackPacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(packet.packetId, "UNSUBACK");
  if (version !== 5) {
    const writer = Writer.forPacket(PacketType.Unsuback << 4, 2, "UNSUBACK");
    writer.u16(packetId);
    return writer.bytes;
  }
  if (packet.reasonCodes.length === 0) {
    throw new CodecError(PROTOCOL_ERROR, "Cannot encode UNSUBACK: no reason codes (3.11.3)");
  }
  const propLength = propertiesLength(packet.properties, PacketType.Unsuback);
  const remaining = 2 + varintLength(propLength) + propLength + packet.reasonCodes.length;
  const writer = Writer.forPacket(PacketType.Unsuback << 4, remaining, "UNSUBACK");
  writer.u16(packetId);
  writeProperties(writer, packet.properties, propLength);
  for (const code of packet.reasonCodes) {
    if (!isReasonCodeAllowed(PacketType.Unsuback, code)) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot encode UNSUBACK: reason code 0x${code.toString(16)} is not allowed [MQTT-3.11.3-2]`,
      );
    }
    writer.u8(code);
  }
  return writer.bytes;
}
