/**
 * DISCONNECT (section 3.14).
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed } from "./reason_code.ts";
import type { DisconnectPacket, ProtocolVersion } from "./types.ts";
import { varintLength, Writer } from "./writer.ts";

/**
 * Decodes the body of a DISCONNECT. Below MQTT 5 the body must be empty; in MQTT 5 an empty body
 * means reason code 0, and one byte a reason code without properties (3.14.2.1).
 *
 * @example
 * ```ts
 * import { decodeDisconnect } from "./disconnect.ts";
 * decodeDisconnect(new Uint8Array([0x04]), 5);
 * // { type: "disconnect", reasonCode: 4 }
 * ```
 */
export function decodeDisconnect(body: Uint8Array, version: ProtocolVersion): DisconnectPacket {
  const r = new Reader(body);
  const packet: DisconnectPacket = { type: "disconnect" };
  if (version === 5) {
    const reasonCode = r.remaining > 0 ? r.u8("DISCONNECT reason code") : 0;
    if (!isReasonCodeAllowed(PacketType.Disconnect, reasonCode)) {
      throw new CodecError(
        0x82,
        `Cannot parse DISCONNECT: reason code 0x${
          reasonCode.toString(16)
        } is not allowed [MQTT-3.14.2-1]`,
      );
    }
    packet.reasonCode = reasonCode;
    if (r.remaining > 0) {
      const properties = decodeProperties(r, PacketType.Disconnect);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  r.expectEnd("DISCONNECT");
  return packet;
}

/**
 * Encodes a whole DISCONNECT in its shortest form: `e0 00` below MQTT 5 and for reason code 0
 * without properties, one body byte for another reason code without properties.
 *
 * @example
 * ```ts
 * import { encodeDisconnect } from "./disconnect.ts";
 * encodeDisconnect({ type: "disconnect", reasonCode: 0x8e }, 5); // e0 01 8e
 * ```
 */
export function encodeDisconnect(packet: DisconnectPacket, version: ProtocolVersion): Uint8Array {
  const header = PacketType.Disconnect << 4;
  if (version !== 5) return Writer.forPacket(header, 0, "DISCONNECT").bytes;
  const reasonCode = packet.reasonCode ?? 0;
  if (!isReasonCodeAllowed(PacketType.Disconnect, reasonCode)) {
    throw new CodecError(
      0x82,
      `Cannot encode DISCONNECT: reason code 0x${
        reasonCode.toString(16)
      } is not allowed [MQTT-3.14.2-1]`,
    );
  }
  const propLength = propertiesLength(packet.properties, PacketType.Disconnect);
  const remaining = propLength > 0
    ? 1 + varintLength(propLength) + propLength
    : reasonCode !== 0
    ? 1
    : 0;
  const writer = Writer.forPacket(header, remaining, "DISCONNECT");
  if (remaining > 0) writer.u8(reasonCode);
  if (propLength > 0) writeProperties(writer, packet.properties, propLength);
  return writer.bytes;
}
