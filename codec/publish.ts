/**
 * PUBLISH (section 3.3): the hot path. Decoding reads the body with plain index arithmetic and
 * returns the payload as a view; encoding sizes the packet first and allocates once.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { decodeUtf8, Reader } from "./reader.ts";
import type { ProtocolVersion, PublishPacket, QoS } from "./types.ts";
import {
  checkPacketId,
  checkRemainingLength,
  utf8Length,
  varintLength,
  Writer,
  writeUtf8,
  writeVarint,
} from "./writer.ts";

const MALFORMED = 0x81;
const TOPIC_NAME_INVALID = 0x90;

/**
 * Decodes the body of a PUBLISH whose fixed header flags (DUP, QoS, RETAIN) are `flags`.
 *
 * @example
 * ```ts
 * import { decodePublish } from "./publish.ts";
 * const body = new Uint8Array([0x00, 0x01, 0x74, 0x68, 0x69]); // topic "t", payload "hi"
 * const packet = decodePublish(body, 0b0001, 4);
 * packet.topic; // "t"
 * packet.retain; // true
 * ```
 */
export function decodePublish(
  body: Uint8Array,
  flags: number,
  version: ProtocolVersion,
): PublishPacket {
  const qos = (flags >> 1) & 3;
  if (qos === 3) {
    throw new CodecError(MALFORMED, "Cannot parse PUBLISH: QoS 3 is not allowed [MQTT-3.3.1-4]");
  }
  const dup = (flags & 8) !== 0;
  if (dup && qos === 0) {
    throw new CodecError(
      MALFORMED,
      "Cannot parse PUBLISH: DUP must be 0 for a QoS 0 message [MQTT-3.3.1-2]",
    );
  }
  const end = body.length;
  if (end < 2) {
    throw new CodecError(
      MALFORMED,
      `Cannot parse PUBLISH topic length: needs 2 bytes, ${end} remaining`,
    );
  }
  const topicLength = (body[0]! << 8) | body[1]!;
  let pos = 2 + topicLength;
  if (pos > end) {
    throw new CodecError(
      MALFORMED,
      `Cannot parse PUBLISH topic: length ${topicLength} exceeds remaining ${end - 2}`,
    );
  }
  const topic = decodeUtf8(body, 2, pos, "PUBLISH topic");
  let packetId = 0;
  if (qos !== 0) {
    if (end - pos < 2) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse PUBLISH packet identifier: needs 2 bytes, ${end - pos} remaining`,
      );
    }
    packetId = (body[pos]! << 8) | body[pos + 1]!;
    pos += 2;
    if (packetId === 0) {
      throw new CodecError(
        0x82,
        "Cannot parse PUBLISH: packet identifier must not be 0 [MQTT-2.2.1-3]",
      );
    }
  }
  let properties;
  if (version === 5) {
    if (pos >= end) {
      throw new CodecError(
        MALFORMED,
        "Cannot parse PUBLISH properties length: needs 1 bytes, 0 remaining",
      );
    }
    if (body[pos] === 0) {
      pos++;
    } else {
      const reader = new Reader(body, pos, end);
      properties = decodeProperties(reader, PacketType.Publish);
      pos = reader.position;
    }
  }
  checkTopic(topic, version, properties?.topicAlias);
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload: body.subarray(pos),
    qos: qos as QoS,
    retain: (flags & 1) !== 0,
    dup,
  };
  if (qos !== 0) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function checkTopic(topic: string, version: ProtocolVersion, topicAlias: number | undefined): void {
  const n = topic.length;
  if (n === 0) {
    // An empty topic is how MQTT 5 says "use the topic the alias stands for" (3.3.2.3.4).
    if (version === 5 && topicAlias !== undefined) return;
    throw new CodecError(
      TOPIC_NAME_INVALID,
      version === 5
        ? "Cannot parse PUBLISH: empty topic name without a topic alias (3.3.2.1)"
        : "Cannot parse PUBLISH: topic name must not be empty [MQTT-4.7.3-1]",
    );
  }
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) {
      throw new CodecError(
        TOPIC_NAME_INVALID,
        `Cannot parse PUBLISH: topic name ${
          JSON.stringify(topic)
        } contains a wildcard [MQTT-3.3.2-2]`,
      );
    }
  }
}

/**
 * Encodes a whole PUBLISH packet, fixed header included. Properties are written for MQTT 5 only
 * and dropped below it, so the same packet can be sent to clients of any level.
 *
 * @example
 * ```ts
 * import { encodePublish } from "./publish.ts";
 * const bytes = encodePublish({
 *   type: "publish", topic: "t", payload: new Uint8Array([0x68, 0x69]),
 *   qos: 0, retain: false, dup: false,
 * }, 4);
 * // bytes: 30 05 00 01 74 68 69
 * ```
 */
export function encodePublish(packet: PublishPacket, version: ProtocolVersion): Uint8Array {
  const { topic, payload, qos } = packet;
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new CodecError(MALFORMED, `Cannot encode PUBLISH: QoS ${qos} is not 0, 1 or 2`);
  }
  if (packet.dup && qos === 0) {
    throw new CodecError(
      MALFORMED,
      "Cannot encode PUBLISH: DUP must be 0 for a QoS 0 message [MQTT-3.3.1-2]",
    );
  }
  const packetId = qos === 0 ? 0 : checkPacketId(packet.packetId, "PUBLISH");
  let topicLength = topic.length;
  for (let i = 0; i < topicLength; i++) {
    const c = topic.charCodeAt(i);
    if (c >= 0x80 || c === 0) {
      topicLength = utf8Length(topic, "PUBLISH topic");
      break;
    }
  }
  const header = 0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
  const properties = version === 5 ? packet.properties : undefined;
  const propLength = properties === undefined
    ? 0
    : propertiesLength(properties, PacketType.Publish);
  const remaining = 2 + topicLength + (qos === 0 ? 0 : 2) +
    (version === 5 ? varintLength(propLength) + propLength : 0) + payload.length;
  if (propLength === 0) {
    checkRemainingLength(remaining, "PUBLISH");
    const buf = new Uint8Array(1 + varintLength(remaining) + remaining);
    buf[0] = header;
    let pos = writeVarint(buf, 1, remaining);
    buf[pos++] = topicLength >>> 8;
    buf[pos++] = topicLength;
    pos = writeUtf8(buf, pos, topic, topicLength);
    if (qos !== 0) {
      buf[pos++] = packetId >>> 8;
      buf[pos++] = packetId;
    }
    if (version === 5) buf[pos++] = 0;
    buf.set(payload, pos);
    return buf;
  }
  const writer = Writer.forPacket(header, remaining, "PUBLISH");
  writer.utf8(topic, topicLength);
  if (qos !== 0) writer.u16(packetId);
  writeProperties(writer, properties, propLength);
  writer.raw(payload);
  return writer.bytes;
}

/** Offset of the packet identifier in an encoded QoS > 0 PUBLISH. */
function packetIdOffset(encoded: Uint8Array, what: string): number {
  const header = encoded[0];
  if (header === undefined || header >> 4 !== PacketType.Publish || (header & 0b0110) === 0) {
    throw new CodecError(MALFORMED, `Cannot ${what}: not an encoded PUBLISH with QoS 1 or 2`);
  }
  let pos = 1;
  while ((encoded[pos++]! & 0x80) !== 0 && pos < 5);
  return pos + 2 + ((encoded[pos]! << 8) | encoded[pos + 1]!);
}

/**
 * Overwrites the packet identifier of an encoded QoS 1 or 2 PUBLISH in place, so that one encoding
 * can be copied and sent to many subscribers, each with its own identifier.
 *
 * @example
 * ```ts
 * import { encodePublish, setPublishPacketId } from "./publish.ts";
 * const bytes = encodePublish({
 *   type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false,
 *   packetId: 1,
 * }, 4);
 * setPublishPacketId(bytes, 0x1234); // bytes: 32 05 00 01 74 12 34
 * ```
 */
export function setPublishPacketId(encoded: Uint8Array, packetId: number): void {
  checkPacketId(packetId, "PUBLISH");
  const pos = packetIdOffset(encoded, "set packet identifier");
  encoded[pos] = packetId >>> 8;
  encoded[pos + 1] = packetId;
}

/**
 * Sets or clears the DUP flag of an encoded PUBLISH in place, for a redelivery [MQTT-3.3.1-1].
 * Setting it on a QoS 0 PUBLISH throws [MQTT-3.3.1-2].
 *
 * @example
 * ```ts
 * import { encodePublish, setPublishDup } from "./publish.ts";
 * const bytes = encodePublish({
 *   type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false,
 *   packetId: 1,
 * }, 4);
 * setPublishDup(bytes, true); // bytes[0] === 0x3a
 * ```
 */
export function setPublishDup(encoded: Uint8Array, dup: boolean): void {
  const header = encoded[0];
  if (header === undefined || header >> 4 !== PacketType.Publish) {
    throw new CodecError(MALFORMED, "Cannot set DUP: not an encoded PUBLISH");
  }
  if (dup && (header & 0b0110) === 0) {
    throw new CodecError(MALFORMED, "Cannot set DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
  }
  encoded[0] = dup ? header | 8 : header & ~8;
}
