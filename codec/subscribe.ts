/**
 * SUBSCRIBE and SUBACK (sections 3.8, 3.9).
 *
 * Topic filters are only checked for well-formed UTF-8 here: an MQTT 5 server answers an invalid
 * filter with SUBACK reason code 0x8F for that filter alone (3.9.3), so the broker validates each
 * one with `validateTopicFilter`.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType } from "./constants.ts";
import { decodeProperties, propertiesLength, writeProperties } from "./properties.ts";
import { Reader } from "./reader.ts";
import { isReasonCodeAllowed, SUBACK_FAILURE_V3 } from "./reason_code.ts";
import type { ProtocolVersion, QoS, SubackPacket, SubscribePacket, Subscription } from "./types.ts";
import { checkPacketId, utf8Length, varintLength, Writer } from "./writer.ts";

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

/**
 * Decodes the body of a SUBSCRIBE (fixed header flags already checked).
 *
 * @example
 * ```ts
 * import { decodeSubscribe } from "./subscribe.ts";
 * decodeSubscribe(new Uint8Array([0x00, 0x01, 0x00, 0x01, 0x61, 0x01]), 4);
 * // { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 1,
 * //   noLocal: false, retainAsPublished: false, retainHandling: 0 }] }
 * ```
 */
export function decodeSubscribe(body: Uint8Array, version: ProtocolVersion): SubscribePacket {
  const r = new Reader(body);
  const packet: SubscribePacket = {
    type: "subscribe",
    packetId: r.packetId("SUBSCRIBE"),
    subscriptions: [],
  };
  if (version === 5) {
    const properties = decodeProperties(r, PacketType.Subscribe);
    if (properties !== undefined) packet.properties = properties;
  }
  while (r.remaining > 0) {
    const topicFilter = r.utf8("SUBSCRIBE topic filter");
    const options = r.u8("SUBSCRIBE subscription options");
    const qos = options & 3;
    if (version !== 5) {
      if ((options & 0xfc) !== 0 || qos === 3) {
        throw new CodecError(
          MALFORMED,
          `Cannot parse SUBSCRIBE: requested QoS byte 0x${options.toString(16)} for ${
            JSON.stringify(topicFilter)
          } must be 0, 1 or 2 [MQTT-3.8.3-4]`,
        );
      }
      packet.subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      });
      continue;
    }
    if ((options & 0xc0) !== 0) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse SUBSCRIBE: reserved subscription option bits set (0x${
          options.toString(16)
        }) for ${JSON.stringify(topicFilter)} [MQTT-3.8.3-5]`,
      );
    }
    if (qos === 3) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot parse SUBSCRIBE: maximum QoS 3 for ${JSON.stringify(topicFilter)} (3.8.3.1)`,
      );
    }
    const retainHandling = (options >> 4) & 3;
    if (retainHandling === 3) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot parse SUBSCRIBE: retain handling 3 for ${JSON.stringify(topicFilter)} (3.8.3.1)`,
      );
    }
    const noLocal = (options & 4) !== 0;
    if (noLocal && topicFilter.startsWith("$share/")) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot parse SUBSCRIBE: No Local set on shared subscription ${
          JSON.stringify(topicFilter)
        } [MQTT-3.8.3-4]`,
      );
    }
    packet.subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished: (options & 8) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  if (packet.subscriptions.length === 0) {
    throw new CodecError(
      PROTOCOL_ERROR,
      "Cannot parse SUBSCRIBE: no topic filter in the payload [MQTT-3.8.3-2]",
    );
  }
  return packet;
}

function subscriptionOptions(s: Subscription, version: ProtocolVersion): number {
  if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) {
    throw new CodecError(MALFORMED, `Cannot encode SUBSCRIBE: QoS ${s.qos} is not 0, 1 or 2`);
  }
  if (version !== 5) return s.qos;
  if (s.retainHandling !== 0 && s.retainHandling !== 1 && s.retainHandling !== 2) {
    throw new CodecError(
      PROTOCOL_ERROR,
      `Cannot encode SUBSCRIBE: retain handling ${s.retainHandling} is not 0, 1 or 2`,
    );
  }
  return s.qos | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (s.retainHandling << 4);
}

/**
 * Encodes a whole SUBSCRIBE. Below MQTT 5 only the QoS of each subscription is written.
 *
 * @example
 * ```ts
 * import { encodeSubscribe } from "./subscribe.ts";
 * encodeSubscribe({
 *   type: "subscribe", packetId: 1,
 *   subscriptions: [{ topicFilter: "a", qos: 1, noLocal: false, retainAsPublished: false,
 *     retainHandling: 0 }],
 * }, 4); // 82 06 00 01 00 01 61 01
 * ```
 */
export function encodeSubscribe(packet: SubscribePacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(packet.packetId, "SUBSCRIBE");
  if (packet.subscriptions.length === 0) {
    throw new CodecError(
      PROTOCOL_ERROR,
      "Cannot encode SUBSCRIBE: no subscriptions [MQTT-3.8.3-2]",
    );
  }
  const propLength = version === 5 ? propertiesLength(packet.properties, PacketType.Subscribe) : 0;
  let remaining = 2 + (version === 5 ? varintLength(propLength) + propLength : 0);
  const lengths: number[] = [];
  for (const s of packet.subscriptions) {
    const length = utf8Length(s.topicFilter, "SUBSCRIBE topic filter");
    lengths.push(length);
    remaining += 3 + length;
  }
  const writer = Writer.forPacket((PacketType.Subscribe << 4) | 2, remaining, "SUBSCRIBE");
  writer.u16(packetId);
  if (version === 5) writeProperties(writer, packet.properties, propLength);
  packet.subscriptions.forEach((s, i) => {
    writer.utf8(s.topicFilter, lengths[i]!);
    writer.u8(subscriptionOptions(s, version));
  });
  return writer.bytes;
}

/**
 * Decodes the body of a SUBACK: one reason code per subscription (below MQTT 5: granted QoS or
 * 0x80).
 *
 * @example
 * ```ts
 * import { decodeSuback } from "./subscribe.ts";
 * decodeSuback(new Uint8Array([0x00, 0x01, 0x01, 0x80]), 4);
 * // { type: "suback", packetId: 1, reasonCodes: [1, 0x80] }
 * ```
 */
export function decodeSuback(body: Uint8Array, version: ProtocolVersion): SubackPacket {
  const r = new Reader(body);
  const packet: SubackPacket = { type: "suback", packetId: r.packetId("SUBACK"), reasonCodes: [] };
  if (version === 5) {
    const properties = decodeProperties(r, PacketType.Suback);
    if (properties !== undefined) packet.properties = properties;
  }
  while (r.remaining > 0) {
    const code = r.u8("SUBACK reason code");
    if (!isReasonCodeAllowed(PacketType.Suback, code, version)) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot parse SUBACK: reason code 0x${code.toString(16)} is not allowed [MQTT-3.9.3-2]`,
      );
    }
    packet.reasonCodes.push(code);
  }
  if (packet.reasonCodes.length === 0) {
    throw new CodecError(PROTOCOL_ERROR, "Cannot parse SUBACK: no reason codes (3.9.3)");
  }
  return packet;
}

/**
 * Encodes a whole SUBACK. Below MQTT 5 every failure code (0x80 and up) is written as 0x80, the
 * only failure 3.1.1 knows [MQTT-3.9.3-2], and properties are dropped.
 *
 * @example
 * ```ts
 * import { encodeSuback } from "./subscribe.ts";
 * encodeSuback({ type: "suback", packetId: 1, reasonCodes: [0, 0x87] }, 4); // 90 04 00 01 00 80
 * ```
 */
export function encodeSuback(packet: SubackPacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(packet.packetId, "SUBACK");
  if (packet.reasonCodes.length === 0) {
    throw new CodecError(PROTOCOL_ERROR, "Cannot encode SUBACK: no reason codes (3.9.3)");
  }
  const propLength = version === 5 ? propertiesLength(packet.properties, PacketType.Suback) : 0;
  const remaining = 2 + (version === 5 ? varintLength(propLength) + propLength : 0) +
    packet.reasonCodes.length;
  const writer = Writer.forPacket(PacketType.Suback << 4, remaining, "SUBACK");
  writer.u16(packetId);
  if (version === 5) writeProperties(writer, packet.properties, propLength);
  for (let code of packet.reasonCodes) {
    if (version !== 5 && code >= 0x80) code = SUBACK_FAILURE_V3;
    if (!isReasonCodeAllowed(PacketType.Suback, code, version)) {
      throw new CodecError(
        PROTOCOL_ERROR,
        `Cannot encode SUBACK: reason code 0x${code.toString(16)} is not allowed [MQTT-3.9.3-2]`,
      );
    }
    writer.u8(code);
  }
  return writer.bytes;
}
