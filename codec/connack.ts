/**
 * CONNACK (section 3.2).
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed, toConnackReturnCode } from "./reason_code.ts";
import type { ConnackPacket, ProtocolVersion } from "./types.ts";
import { varintLength, Writer } from "./writer.ts";

/**
 * Decodes the body of a CONNACK. Below MQTT 5 `reasonCode` is the return code 0..5.
 *
 * @example
 * ```ts
 * import { decodeConnack } from "./connack.ts";
 * decodeConnack(new Uint8Array([0x01, 0x00]), 4);
 * // { type: "connack", sessionPresent: true, reasonCode: 0 }
 * ```
 */
export function decodeConnack(body: Uint8Array, version: ProtocolVersion): ConnackPacket {
  const r = new Reader(body);
  const flags = r.u8("CONNACK acknowledge flags");
  if ((flags & 0xfe) !== 0) {
    throw new CodecError(
      0x81,
      `Cannot parse CONNACK: reserved acknowledge flag bits set (0x${
        flags.toString(16)
      }) [MQTT-3.2.2-1]`,
    );
  }
  const reasonCode = r.u8("CONNACK reason code");
  if (!isReasonCodeAllowed(PacketType.Connack, reasonCode, version)) {
    throw new CodecError(
      0x82,
      `Cannot parse CONNACK: ${version === 5 ? "reason" : "return"} code 0x${
        reasonCode.toString(16)
      } is not allowed (3.2.2.2)`,
    );
  }
  const sessionPresent = flags === 1;
  if (sessionPresent && reasonCode !== 0) {
    throw new CodecError(
      0x82,
      "Cannot parse CONNACK: session present with a non-zero reason code [MQTT-3.2.2-6]",
    );
  }
  const packet: ConnackPacket = { type: "connack", sessionPresent, reasonCode };
  if (version === 5) {
    const properties = decodeProperties(r, PacketType.Connack);
    if (properties !== undefined) packet.properties = properties;
  }
  r.expectEnd("CONNACK");
  return packet;
}

/**
 * Encodes a whole CONNACK. Below MQTT 5 a v5 reason code of 0x80 or more is replaced by the
 * closest 3.x return code (see `toConnackReturnCode`) and properties are dropped.
 *
 * @example
 * ```ts
 * import { encodeConnack } from "./connack.ts";
 * encodeConnack({ type: "connack", sessionPresent: false, reasonCode: 0x86 }, 4); // 20 02 00 04
 * ```
 */
export function encodeConnack(packet: ConnackPacket, version: ProtocolVersion): Uint8Array {
  const reasonCode = version === 5 ? packet.reasonCode : toConnackReturnCode(packet.reasonCode);
  if (!isReasonCodeAllowed(PacketType.Connack, reasonCode, version)) {
    throw new CodecError(
      0x82,
      `Cannot encode CONNACK: code 0x${
        reasonCode.toString(16)
      } is not allowed at protocol level ${version}`,
    );
  }
  if (packet.sessionPresent && reasonCode !== 0) {
    throw new CodecError(
      0x82,
      "Cannot encode CONNACK: session present with a non-zero reason code [MQTT-3.2.2-6]",
    );
  }
  const propLength = version === 5 ? propertiesLength(packet.properties, PacketType.Connack) : 0;
  const remaining = 2 + (version === 5 ? varintLength(propLength) + propLength : 0);
  const writer = Writer.forPacket(PacketType.Connack << 4, remaining, "CONNACK");
  writer.u8(packet.sessionPresent ? 1 : 0);
  writer.u8(reasonCode);
  if (version === 5) writeProperties(writer, packet.properties, propLength);
  return writer.bytes;
}
