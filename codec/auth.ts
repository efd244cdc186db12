/**
 * AUTH (section 3.15), MQTT 5 only.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed } from "./reason_code.ts";
import type { AuthPacket, ProtocolVersion } from "./types.ts";
import { varintLength, Writer } from "./writer.ts";

function notBeforeV5(what: string, version: ProtocolVersion): CodecError {
  // Packet type 15 is reserved before MQTT 5 (3.1.1 section 2.2.1).
  return new CodecError(
    0x81,
    `Cannot ${what} AUTH: the packet exists only in MQTT 5, not at protocol level ${version}`,
  );
}

/**
 * Decodes the body of an AUTH. An empty body means reason code 0 without properties (3.15.2.1).
 *
 * @example
 * ```ts
 * import { decodeAuth } from "./auth.ts";
 * decodeAuth(new Uint8Array(0), 5); // { type: "auth", reasonCode: 0 }
 * ```
 */
export function decodeAuth(body: Uint8Array, version: ProtocolVersion): AuthPacket {
  if (version !== 5) throw notBeforeV5("parse", version);
  const r = new Reader(body);
  const reasonCode = r.remaining > 0 ? r.u8("AUTH reason code") : 0;
  if (!isReasonCodeAllowed(PacketType.Auth, reasonCode)) {
    throw new CodecError(
      0x82,
      `Cannot parse AUTH: reason code 0x${reasonCode.toString(16)} is not allowed [MQTT-3.15.2-1]`,
    );
  }
  const packet: AuthPacket = { type: "auth", reasonCode };
  // A reason code without a property length is accepted, as for DISCONNECT.
  if (r.remaining > 0) {
    const properties = decodeProperties(r, PacketType.Auth);
    if (properties !== undefined) packet.properties = properties;
  }
  r.expectEnd("AUTH");
  return packet;
}

/**
 * Encodes a whole AUTH: `f0 00` for reason code 0 without properties, otherwise the reason code
 * and the property length (the spec allows leaving off only both together, 3.15.2.1).
 *
 * @example
 * ```ts
 * import { encodeAuth } from "./auth.ts";
 * encodeAuth({ type: "auth", reasonCode: 0x18 }, 5); // f0 02 18 00
 * ```
 */
export function encodeAuth(packet: AuthPacket, version: ProtocolVersion): Uint8Array {
  if (version !== 5) throw notBeforeV5("encode", version);
  const reasonCode = packet.reasonCode;
  if (!isReasonCodeAllowed(PacketType.Auth, reasonCode)) {
    throw new CodecError(
      0x82,
      `Cannot encode AUTH: reason code 0x${reasonCode.toString(16)} is not allowed [MQTT-3.15.2-1]`,
    );
  }
  const propLength = propertiesLength(packet.properties, PacketType.Auth);
  const remaining = reasonCode === 0 && propLength === 0
    ? 0
    : 1 + varintLength(propLength) + propLength;
  const writer = Writer.forPacket(PacketType.Auth << 4, remaining, "AUTH");
  if (remaining > 0) {
    writer.u8(reasonCode);
    writeProperties(writer, packet.properties, propLength);
  }
  return writer.bytes;
}
