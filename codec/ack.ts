/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4–3.7): a packet identifier and, in MQTT 5, a
 * reason code and properties that may be left off.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PACKET_TYPE_NUMBERS } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed } from "./reason_code.ts";
import type { AckPacket, ProtocolVersion } from "./types.ts";
import { checkPacketId, varintLength, Writer } from "./writer.ts";

const NAMES = { puback: "PUBACK", pubrec: "PUBREC", pubrel: "PUBREL", pubcomp: "PUBCOMP" };
const REASON_CODE_LABELS = {
  puback: "PUBACK reason code",
  pubrec: "PUBREC reason code",
  pubrel: "PUBREL reason code",
  pubcomp: "PUBCOMP reason code",
};

/**
 * Decodes the body of a PUBACK, PUBREC, PUBREL or PUBCOMP (fixed header flags already checked).
 * In MQTT 5 a Remaining Length of 2 means reason code 0 and no properties, and 3 means no
 * properties (3.4.2.1).
 *
 * @example
 * ```ts
 * import { decodeAck } from "./ack.ts";
 * decodeAck("puback", new Uint8Array([0x00, 0x07]), 5);
 * // { type: "puback", packetId: 7, reasonCode: 0 }
 * ```
 */
export function decodeAck(
  type: AckPacket["type"],
  body: Uint8Array,
  version: ProtocolVersion,
): AckPacket {
  const what = NAMES[type];
  const r = new Reader(body);
  const packet: AckPacket = { type, packetId: r.packetId(what) };
  if (version === 5) {
    const reasonCode = r.remaining > 0 ? r.u8(REASON_CODE_LABELS[type]) : 0;
    if (!isReasonCodeAllowed(PACKET_TYPE_NUMBERS[type], reasonCode)) {
      throw new CodecError(
        0x82,
        `Cannot parse ${what}: reason code 0x${
          reasonCode.toString(16)
        } is not allowed in ${what} (3.4.2.1)`,
      );
    }
    packet.reasonCode = reasonCode;
    if (r.remaining > 0) {
      const properties = decodeProperties(r, PACKET_TYPE_NUMBERS[type]);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  r.expectEnd(what);
  return packet;
}

/**
 * Encodes a whole PUBACK, PUBREC, PUBREL or PUBCOMP in its shortest form: in MQTT 5, 2 bytes of
 * body for reason code 0 without properties, 3 for another reason code without properties.
 *
 * @example
 * ```ts
 * import { encodeAck } from "./ack.ts";
 * encodeAck({ type: "pubrel", packetId: 7 }, 4); // 62 02 00 07
 * ```
 */
export function encodeAck(packet: AckPacket, version: ProtocolVersion): Uint8Array {
  const type = PACKET_TYPE_NUMBERS[packet.type];
  const what = NAMES[packet.type];
  const packetId = checkPacketId(packet.packetId, what);
  // PUBREL's reserved flags are 0b0010 [MQTT-3.6.1-1].
  const header = (type << 4) | (packet.type === "pubrel" ? 2 : 0);
  if (version !== 5) {
    const writer = Writer.forPacket(header, 2, what);
    writer.u16(packetId);
    return writer.bytes;
  }
  const reasonCode = packet.reasonCode ?? 0;
  if (!isReasonCodeAllowed(type, reasonCode)) {
    throw new CodecError(
      0x82,
      `Cannot encode ${what}: reason code 0x${reasonCode.toString(16)} is not allowed in ${what}`,
    );
  }
  const propLength = propertiesLength(packet.properties, type);
  const remaining = propLength > 0
    ? 3 + varintLength(propLength) + propLength
    : reasonCode !== 0
    ? 3
    : 2;
  const writer = Writer.forPacket(header, remaining, what);
  writer.u16(packetId);
  if (remaining > 2) writer.u8(reasonCode);
  if (propLength > 0) writeProperties(writer, packet.properties, propLength);
  return writer.bytes;
}
