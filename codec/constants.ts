/**
 * Numbers fixed by the MQTT specifications: control packet types, protocol names and levels,
 * size limits and MQTT 5 property identifiers.
 *
 * @module
 */

import type { PacketTypeName, ProtocolVersion } from "./types.ts";

/** Control packet type numbers, the high nibble of the fixed header's first byte (section 2.1.2). */
export const PacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  /** MQTT 5 only; reserved in 3.1.1. */
  Auth: 15,
} as const;

/** A control packet type number 1..15. */
export type PacketTypeNumber = typeof PacketType[keyof typeof PacketType];

/** `type` name of each packet type number; index 0 (reserved) is undefined. */
export const PACKET_TYPE_NAMES: readonly (PacketTypeName | undefined)[] = [
  undefined,
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];

/** Packet type number of each `type` name. */
export const PACKET_TYPE_NUMBERS: Readonly<Record<PacketTypeName, PacketTypeNumber>> = {
  connect: PacketType.Connect,
  connack: PacketType.Connack,
  publish: PacketType.Publish,
  puback: PacketType.Puback,
  pubrec: PacketType.Pubrec,
  pubrel: PacketType.Pubrel,
  pubcomp: PacketType.Pubcomp,
  subscribe: PacketType.Subscribe,
  suback: PacketType.Suback,
  unsubscribe: PacketType.Unsubscribe,
  unsuback: PacketType.Unsuback,
  pingreq: PacketType.Pingreq,
  pingresp: PacketType.Pingresp,
  disconnect: PacketType.Disconnect,
  auth: PacketType.Auth,
};

/** Protocol name of MQTT 3.1 (level 3). */
export const PROTOCOL_NAME_V31 = "MQIsdp";
/** Protocol name of MQTT 3.1.1 and 5.0 (levels 4 and 5) [MQTT-3.1.2-1]. */
export const PROTOCOL_NAME = "MQTT";

/** Protocol levels as sent in CONNECT. */
export const ProtocolLevel = {
  V31: 3,
  V311: 4,
  V5: 5,
} as const satisfies Record<string, ProtocolVersion>;

/** Largest value a Variable Byte Integer (and so the Remaining Length) can hold (section 1.5.5). */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** Largest possible control packet: 1 type byte + 4 length bytes + MAX_REMAINING_LENGTH. */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5;
/** Largest length of a UTF-8 string or binary field, which carry a two-byte length (1.5.4, 1.5.6). */
export const MAX_STRING_LENGTH = 65_535;
/** Largest packet identifier; 0 is not a valid identifier [MQTT-2.2.1-3]. */
export const MAX_PACKET_ID = 65_535;

/** MQTT 5 property identifiers (section 2.2.2.2). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  SessionExpiryInterval: 0x11,
  AssignedClientIdentifier: 0x12,
  ServerKeepAlive: 0x13,
  AuthenticationMethod: 0x15,
  AuthenticationData: 0x16,
  RequestProblemInformation: 0x17,
  WillDelayInterval: 0x18,
  RequestResponseInformation: 0x19,
  ResponseInformation: 0x1a,
  ServerReference: 0x1c,
  ReasonString: 0x1f,
  ReceiveMaximum: 0x21,
  TopicAliasMaximum: 0x22,
  TopicAlias: 0x23,
  MaximumQoS: 0x24,
  RetainAvailable: 0x25,
  UserProperty: 0x26,
  MaximumPacketSize: 0x27,
  WildcardSubscriptionAvailable: 0x28,
  SubscriptionIdentifierAvailable: 0x29,
  SharedSubscriptionAvailable: 0x2a,
} as const;
