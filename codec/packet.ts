/**
 * The two dispatchers: {@linkcode decodePacket} turns a frame into a packet object and
 * {@linkcode encodePacket} turns a packet object into bytes, each by one switch on the type.
 *
 * @module
 */

import { decodeAck, encodeAck } from "./ack.ts";
import { decodeAuth, encodeAuth } from "./auth.ts";
import { CodecError } from "./codec_error.ts";
import { decodeConnack, encodeConnack } from "./connack.ts";
import { decodeConnect, encodeConnect } from "./connect.ts";
import { PACKET_TYPE_NAMES, PacketType } from "./constants.ts";
import { decodeDisconnect, encodeDisconnect } from "./disconnect.ts";
import { decodePing, encodePing } from "./ping.ts";
import { decodePublish, encodePublish } from "./publish.ts";
import { decodeSuback, decodeSubscribe, encodeSuback, encodeSubscribe } from "./subscribe.ts";
import {
  decodeUnsuback,
  decodeUnsubscribe,
  encodeUnsuback,
  encodeUnsubscribe,
} from "./unsubscribe.ts";
import type { Frame, Packet, ProtocolVersion } from "./types.ts";

/**
 * Required fixed header flags per packet type (section 2.1.3, table 2-2); PUBLISH (-1) carries
 * DUP/QoS/RETAIN instead.
 */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];
const FLAG_CLAUSES: Record<number, string> = {
  [PacketType.Pubrel]: "[MQTT-3.6.1-1]",
  [PacketType.Subscribe]: "[MQTT-3.8.1-1]",
  [PacketType.Unsubscribe]: "[MQTT-3.10.1-1]",
};

/**
 * Decodes one frame from the {@linkcode Framer} received on a connection at protocol level
 * `version`. For a CONNECT `version` is ignored: the level is read from the packet.
 *
 * Throws {@linkcode CodecError} with the reason code to close the connection with.
 *
 * @example
 * ```ts
 * import { decodePacket } from "./packet.ts";
 * const packet = decodePacket({ header: 0x40, body: new Uint8Array([0x00, 0x01]) }, 4);
 * // { type: "puback", packetId: 1 }
 * ```
 */
export function decodePacket(frame: Frame, version: ProtocolVersion): Packet {
  const header = frame.header;
  const type = header >> 4;
  const flags = header & 0x0f;
  if (type === PacketType.Publish) return decodePublish(frame.body, flags, version);
  const required = REQUIRED_FLAGS[type]!;
  if (type === 0) {
    throw new CodecError(0x81, "Cannot parse packet: packet type 0 is reserved (2.1.2)");
  }
  if (flags !== required) {
    throw new CodecError(
      0x81,
      `Cannot parse ${PACKET_TYPE_NAMES[type]!.toUpperCase()}: fixed header flags 0b${
        flags.toString(2).padStart(4, "0")
      }, expected 0b${required.toString(2).padStart(4, "0")} ${
        FLAG_CLAUSES[type] ?? "[MQTT-2.1.3-1]"
      }`,
    );
  }
  const body = frame.body;
  switch (type) {
    case PacketType.Connect:
      return decodeConnect(body);
    case PacketType.Connack:
      return decodeConnack(body, version);
    case PacketType.Puback:
      return decodeAck("puback", body, version);
    case PacketType.Pubrec:
      return decodeAck("pubrec", body, version);
    case PacketType.Pubrel:
      return decodeAck("pubrel", body, version);
    case PacketType.Pubcomp:
      return decodeAck("pubcomp", body, version);
    case PacketType.Subscribe:
      return decodeSubscribe(body, version);
    case PacketType.Suback:
      return decodeSuback(body, version);
    case PacketType.Unsubscribe:
      return decodeUnsubscribe(body, version);
    case PacketType.Unsuback:
      return decodeUnsuback(body, version);
    case PacketType.Pingreq:
      return decodePing("pingreq", body);
    case PacketType.Pingresp:
      return decodePing("pingresp", body);
    case PacketType.Disconnect:
      return decodeDisconnect(body, version);
    default:
      return decodeAuth(body, version);
  }
}

/**
 * Encodes a whole packet, fixed header included, for a connection at protocol level `version`.
 * A CONNECT is encoded at its own `protocolVersion`. Below MQTT 5 properties and ack reason codes
 * are dropped, a SUBACK failure becomes 0x80 and a CONNACK reason code of 0x80 or more becomes the
 * closest 3.x return code, so the broker can build one packet for clients of every level.
 *
 * Throws {@linkcode CodecError} for a packet the decoder would reject (QoS 3, packet identifier 0,
 * a reason code the packet may not carry, a property the packet may not carry, ...).
 *
 * @example
 * ```ts
 * import { encodePacket } from "./packet.ts";
 * encodePacket({ type: "puback", packetId: 1, reasonCode: 0 }, 5); // 40 02 00 01
 * ```
 */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  switch (packet.type) {
    case "publish":
      return encodePublish(packet, version);
    case "connect":
      return encodeConnect(packet);
    case "connack":
      return encodeConnack(packet, version);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return encodeAck(packet, version);
    case "subscribe":
      return encodeSubscribe(packet, version);
    case "suback":
      return encodeSuback(packet, version);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version);
    case "unsuback":
      return encodeUnsuback(packet, version);
    case "pingreq":
    case "pingresp":
      return encodePing(packet.type);
    case "disconnect":
      return encodeDisconnect(packet, version);
    case "auth":
      return encodeAuth(packet, version);
  }
}
