/**
 * CONNECT (section 3.1) at protocol levels 3 ("MQIsdp"), 4 and 5 ("MQTT").
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType, PROTOCOL_NAME, PROTOCOL_NAME_V31 } from "./constants.ts";
import {
  decodeProperties,
  propertiesLength,
  WILL_PROPERTIES,
  writeProperties,
} from "./properties.ts";
import { Reader } from "./reader.ts";
import { isValidTopicName } from "./topic.ts";
import type { ConnectPacket, ProtocolVersion, QoS, Will } from "./types.ts";
import { utf8Length, varintLength, Writer } from "./writer.ts";

const MALFORMED = 0x81;
const UNSUPPORTED_PROTOCOL_VERSION = 0x84;

const CLEAN = 0x02;
const WILL = 0x04;
const WILL_RETAIN = 0x20;
const PASSWORD = 0x40;
const USERNAME = 0x80;

/** Mosquitto's bridge bit in the protocol level byte (`try_private`), not in the specification. */
const BRIDGE_BIT = 0x80;

/**
 * The protocol level a CONNECT announces, checked against its protocol name: "MQIsdp" goes with
 * level 3, "MQTT" with 4 and 5 [MQTT-3.1.2-1].
 */
function protocolVersionOf(name: string, level: number): ProtocolVersion {
  // A Mosquitto bridge with `try_private true` sets the top bit of the level (0x83, 0x84); the
  // rest of the packet is that level's.
  const base = level & ~BRIDGE_BIT;
  if (name === PROTOCOL_NAME && (base === 4 || base === 5)) return base;
  if (name === PROTOCOL_NAME_V31 && base === 3) return 3;
  if (name === PROTOCOL_NAME || name === PROTOCOL_NAME_V31) {
    // A known name with a level this server does not speak: answer with a CONNACK in the format
    // the name implies, 3.x return code 1 [MQTT-3.1.2-2], as Mosquitto does.
    const answerIn: ProtocolVersion = name === PROTOCOL_NAME ? 4 : 3;
    throw new CodecError(
      UNSUPPORTED_PROTOCOL_VERSION,
      `Cannot accept CONNECT: protocol level ${level} is not supported with protocol name ${
        JSON.stringify(name)
      } (expected ${name === PROTOCOL_NAME ? "4 or 5" : "3"})`,
      answerIn,
    );
  }
  // An unknown name: close without CONNACK [MQTT-3.1.2-1]; protocolVersion stays unset.
  throw new CodecError(
    0x82,
    `Cannot accept CONNECT: unknown protocol name ${JSON.stringify(name)} (expected "MQTT")`,
  );
}

/**
 * Decodes the body of a CONNECT (fixed header flags already checked). The protocol level is
 * read from the packet; every CodecError thrown after it is known carries it in
 * `protocolVersion`, so that the broker can answer with a CONNACK in the client's format.
 *
 * @example
 * ```ts
 * import { decodeConnect } from "./connect.ts";
 * const body = new Uint8Array([
 *   0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x63,
 * ]);
 * decodeConnect(body).clientId; // "c"
 * ```
 */
export function decodeConnect(body: Uint8Array): ConnectPacket {
  const r = new Reader(body);
  const protocolName = r.utf8("CONNECT protocol name");
  const level = r.u8("CONNECT protocol level");
  const protocolVersion = protocolVersionOf(protocolName, level);
  try {
    const packet = decodeAfterLevel(r, protocolName, protocolVersion);
    if ((level & BRIDGE_BIT) !== 0) packet.bridge = true;
    return packet;
  } catch (error) {
    if (error instanceof CodecError) error.protocolVersion ??= protocolVersion;
    throw error;
  }
}

function decodeAfterLevel(
  r: Reader,
  protocolName: string,
  protocolVersion: ProtocolVersion,
): ConnectPacket {
  const flags = r.u8("CONNECT flags");
  if ((flags & 0x01) !== 0) {
    throw new CodecError(
      MALFORMED,
      "Cannot parse CONNECT: reserved flag bit 0 is set [MQTT-3.1.2-3]",
    );
  }
  const willQoS = (flags >> 3) & 3;
  if ((flags & WILL) === 0) {
    if (willQoS !== 0) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse CONNECT: will QoS ${willQoS} without the will flag [MQTT-3.1.2-11]`,
      );
    }
    if ((flags & WILL_RETAIN) !== 0) {
      throw new CodecError(
        MALFORMED,
        "Cannot parse CONNECT: will retain without the will flag [MQTT-3.1.2-13]",
      );
    }
  } else if (willQoS === 3) {
    throw new CodecError(MALFORMED, "Cannot parse CONNECT: will QoS 3 [MQTT-3.1.2-12]");
  }
  if (protocolVersion !== 5 && (flags & PASSWORD) !== 0 && (flags & USERNAME) === 0) {
    // MQTT 5 allows a password without a user name (3.1.2.9); 3.1.1 does not [MQTT-3.1.2-22].
    throw new CodecError(
      MALFORMED,
      "Cannot parse CONNECT: password flag without user name flag [MQTT-3.1.2-22]",
    );
  }
  const keepalive = r.u16("CONNECT keep alive");
  const properties = protocolVersion === 5 ? decodeProperties(r, PacketType.Connect) : undefined;
  const packet: ConnectPacket = {
    type: "connect",
    protocolName,
    protocolVersion,
    clean: (flags & CLEAN) !== 0,
    keepalive,
    clientId: r.utf8("CONNECT client identifier"),
  };
  if ((flags & WILL) !== 0) {
    const willProperties = protocolVersion === 5 ? decodeProperties(r, WILL_PROPERTIES) : undefined;
    const topic = r.utf8("CONNECT will topic");
    if (!isValidTopicName(topic)) {
      throw new CodecError(
        0x90,
        `Cannot accept CONNECT: will topic ${
          JSON.stringify(topic)
        } is not a valid topic name [MQTT-3.1.3-11]`,
      );
    }
    const will: Will = {
      topic,
      payload: r.binary("CONNECT will payload"),
      qos: willQoS as QoS,
      retain: (flags & WILL_RETAIN) !== 0,
    };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  if ((flags & USERNAME) !== 0) packet.username = r.utf8("CONNECT user name");
  if ((flags & PASSWORD) !== 0) packet.password = r.binary("CONNECT password");
  if (properties !== undefined) packet.properties = properties;
  r.expectEnd("CONNECT");
  return packet;
}

/**
 * Encodes a whole CONNECT at `packet.protocolVersion` with `packet.protocolName` as given.
 *
 * @example
 * ```ts
 * import { encodeConnect } from "./connect.ts";
 * encodeConnect({
 *   type: "connect", protocolName: "MQTT", protocolVersion: 4, clean: true, keepalive: 60,
 *   clientId: "c",
 * }); // 10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 63
 * ```
 */
export function encodeConnect(packet: ConnectPacket): Uint8Array {
  const version = packet.protocolVersion;
  const { will, username, password } = packet;
  if (version !== 5 && password !== undefined && username === undefined) {
    throw new CodecError(
      MALFORMED,
      "Cannot encode CONNECT: a password needs a user name below MQTT 5 [MQTT-3.1.2-22]",
    );
  }
  if (will !== undefined && will.qos !== 0 && will.qos !== 1 && will.qos !== 2) {
    throw new CodecError(MALFORMED, `Cannot encode CONNECT: will QoS ${will.qos} is not 0, 1 or 2`);
  }
  const nameLength = utf8Length(packet.protocolName, "CONNECT protocol name");
  const clientIdLength = utf8Length(packet.clientId, "CONNECT client identifier");
  const propLength = version === 5 ? propertiesLength(packet.properties, PacketType.Connect) : 0;
  let remaining = 2 + nameLength + 1 + 1 + 2 + 2 + clientIdLength +
    (version === 5 ? varintLength(propLength) + propLength : 0);
  let willPropLength = 0;
  let willTopicLength = 0;
  if (will !== undefined) {
    willPropLength = version === 5 ? propertiesLength(will.properties, WILL_PROPERTIES) : 0;
    willTopicLength = utf8Length(will.topic, "CONNECT will topic");
    remaining += (version === 5 ? varintLength(willPropLength) + willPropLength : 0) + 2 +
      willTopicLength + 2 + will.payload.length;
  }
  const usernameLength = username === undefined ? 0 : utf8Length(username, "CONNECT user name");
  if (username !== undefined) remaining += 2 + usernameLength;
  if (password !== undefined) remaining += 2 + password.length;
  const flags = (packet.clean ? CLEAN : 0) |
    (will === undefined ? 0 : WILL | (will.qos << 3) | (will.retain ? WILL_RETAIN : 0)) |
    (password === undefined ? 0 : PASSWORD) | (username === undefined ? 0 : USERNAME);
  const writer = Writer.forPacket(PacketType.Connect << 4, remaining, "CONNECT");
  writer.utf8(packet.protocolName, nameLength);
  writer.u8(packet.bridge ? version | BRIDGE_BIT : version);
  writer.u8(flags);
  writer.u16(packet.keepalive);
  if (version === 5) writeProperties(writer, packet.properties, propLength);
  writer.utf8(packet.clientId, clientIdLength);
  if (will !== undefined) {
    if (version === 5) writeProperties(writer, will.properties, willPropLength);
    writer.utf8(will.topic, willTopicLength);
    writer.binary(will.payload);
  }
  if (username !== undefined) writer.utf8(username, usernameLength);
  if (password !== undefined) writer.binary(password);
  return writer.bytes;
}
