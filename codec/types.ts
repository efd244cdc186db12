/**
 * Packet shapes of MQTT 3.1 (protocol level 3), 3.1.1 (level 4) and 5.0 (level 5).
 *
 * One plain object per packet, discriminated by `type`. The decoder produces exactly these shapes
 * and the encoder accepts them, so `decodePacket(encodePacket(p, v), v)` deep-equals `p` for a
 * packet in canonical form:
 * - `properties` is absent (not `{}`) when a packet carries none, and always absent below v5;
 * - `reasonCode` on PUBACK/PUBREC/PUBREL/PUBCOMP/DISCONNECT/AUTH is present (0 when omitted on the
 *   wire) for v5 and absent below v5;
 * - optional fields (`packetId` on QoS 0, `username`, `password`, `will`) are absent, not undefined.
 *
 * @module
 */

/** MQTT protocol level: 3 = MQTT 3.1 ("MQIsdp"), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/** Quality of service of a message or granted to a subscription. */
export type QoS = 0 | 1 | 2;

/** A v5 user property: a name/value pair; order and duplicates are significant [MQTT-3.3.2-18]. */
export type UserProperty = [name: string, value: string];

/**
 * MQTT 5 properties (section 2.2.2). Byte-valued flags stay numbers so that a value the spec
 * forbids (e.g. Payload Format Indicator 7) can be reported rather than silently coerced.
 */
export interface Properties {
  /** 0x01 byte: 0 unspecified bytes, 1 UTF-8 payload. PUBLISH, will. */
  payloadFormatIndicator?: number;
  /** 0x02 four-byte integer, seconds. PUBLISH, will. */
  messageExpiryInterval?: number;
  /** 0x03 UTF-8 string. PUBLISH, will. */
  contentType?: string;
  /** 0x08 UTF-8 string (a topic name). PUBLISH, will. */
  responseTopic?: string;
  /** 0x09 binary data. PUBLISH, will. */
  correlationData?: Uint8Array;
  /**
   * 0x0B variable byte integer 1..268,435,455. SUBSCRIBE carries at most one; a PUBLISH sent by
   * the server carries one per matching subscription [MQTT-3.3.4-3].
   */
  subscriptionIdentifiers?: number[];
  /** 0x11 four-byte integer, seconds. CONNECT, CONNACK, DISCONNECT. */
  sessionExpiryInterval?: number;
  /** 0x12 UTF-8 string. CONNACK. */
  assignedClientIdentifier?: string;
  /** 0x13 two-byte integer, seconds. CONNACK. */
  serverKeepAlive?: number;
  /** 0x15 UTF-8 string. CONNECT, CONNACK, AUTH. */
  authenticationMethod?: string;
  /** 0x16 binary data. CONNECT, CONNACK, AUTH. */
  authenticationData?: Uint8Array;
  /** 0x17 byte 0/1. CONNECT. */
  requestProblemInformation?: number;
  /** 0x18 four-byte integer, seconds. Will properties. */
  willDelayInterval?: number;
  /** 0x19 byte 0/1. CONNECT. */
  requestResponseInformation?: number;
  /** 0x1A UTF-8 string. CONNACK. */
  responseInformation?: string;
  /** 0x1C UTF-8 string. CONNACK, DISCONNECT. */
  serverReference?: string;
  /** 0x1F UTF-8 string. CONNACK, acks, SUBACK, UNSUBACK, DISCONNECT, AUTH. */
  reasonString?: string;
  /** 0x21 two-byte integer 1..65535. CONNECT, CONNACK. */
  receiveMaximum?: number;
  /** 0x22 two-byte integer. CONNECT, CONNACK. */
  topicAliasMaximum?: number;
  /** 0x23 two-byte integer 1..65535. PUBLISH. */
  topicAlias?: number;
  /** 0x24 byte 0/1. CONNACK. */
  maximumQoS?: number;
  /** 0x25 byte 0/1. CONNACK. */
  retainAvailable?: number;
  /** 0x26 string pair, repeatable. Every packet that has properties. */
  userProperties?: UserProperty[];
  /** 0x27 four-byte integer 1..268,435,455. CONNECT, CONNACK. */
  maximumPacketSize?: number;
  /** 0x28 byte 0/1. CONNACK. */
  wildcardSubscriptionAvailable?: number;
  /** 0x29 byte 0/1. CONNACK. */
  subscriptionIdentifiersAvailable?: number;
  /** 0x2A byte 0/1. CONNACK. */
  sharedSubscriptionAvailable?: number;
}

/** The will message of a CONNECT (section 3.1.3.2 / 3.1.3.3). */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** Will properties, v5 only. */
  properties?: Properties;
}

/** CONNECT (section 3.1). */
export interface ConnectPacket {
  type: "connect";
  /** "MQTT" for levels 4 and 5, "MQIsdp" for level 3. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1/3.1.1) or Clean Start (5.0). */
  clean: boolean;
  /** Keep Alive in seconds; 0 turns the mechanism off. */
  keepalive: number;
  clientId: string;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  properties?: Properties;
  /**
   * Mosquitto's bridge bit: the protocol level byte has 0x80 set (`try_private`), telling the
   * server that the client is a bridge, so that it does not echo the bridge's own messages back
   * and keeps their RETAIN flag. Not part of the MQTT specification; absent means false.
   */
  bridge?: boolean;
}

/** CONNACK (section 3.2). `reasonCode` is the v3 return code (0..5) below v5. */
export interface ConnackPacket {
  type: "connack";
  sessionPresent: boolean;
  reasonCode: number;
  properties?: Properties;
}

/** PUBLISH (section 3.3). `packetId` is present exactly when `qos > 0`. */
export interface PublishPacket {
  type: "publish";
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4–3.7). */
export interface AckPacket {
  type: "puback" | "pubrec" | "pubrel" | "pubcomp";
  packetId: number;
  /** v5 only. */
  reasonCode?: number;
  properties?: Properties;
}

/** One topic filter of a SUBSCRIBE with its options (section 3.8.3.1). */
export interface Subscription {
  topicFilter: string;
  qos: QoS;
  /** v5 only; false below v5. */
  noLocal: boolean;
  /** v5 only; false below v5. */
  retainAsPublished: boolean;
  /** v5 only; 0 below v5. */
  retainHandling: 0 | 1 | 2;
}

/** SUBSCRIBE (section 3.8). */
export interface SubscribePacket {
  type: "subscribe";
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

/** SUBACK (section 3.9): one reason code (or v3 granted QoS / 0x80) per subscription. */
export interface SubackPacket {
  type: "suback";
  packetId: number;
  reasonCodes: number[];
  properties?: Properties;
}

/** UNSUBSCRIBE (section 3.10). */
export interface UnsubscribePacket {
  type: "unsubscribe";
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

/** UNSUBACK (section 3.11): `reasonCodes` is empty below v5, where the packet has no payload. */
export interface UnsubackPacket {
  type: "unsuback";
  packetId: number;
  reasonCodes: number[];
  properties?: Properties;
}

/** PINGREQ (section 3.12). */
export interface PingreqPacket {
  type: "pingreq";
}

/** PINGRESP (section 3.13). */
export interface PingrespPacket {
  type: "pingresp";
}

/** DISCONNECT (section 3.14); reason code and properties are v5 only. */
export interface DisconnectPacket {
  type: "disconnect";
  reasonCode?: number;
  properties?: Properties;
}

/** AUTH (section 3.15), v5 only. */
export interface AuthPacket {
  type: "auth";
  reasonCode: number;
  properties?: Properties;
}

/** Any MQTT control packet. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The `type` names of all packets. */
export type PacketTypeName = Packet["type"];

/**
 * One complete control packet as cut by the framer: the fixed header's first byte and the body
 * (variable header + payload), a view into the input without a copy.
 */
export interface Frame {
  /** First byte of the fixed header: packet type in the high nibble, flags in the low nibble. */
  header: number;
  /** Remaining Length bytes following the fixed header. */
  body: Uint8Array;
}
