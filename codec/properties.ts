/**
 * MQTT 5 properties (section 2.2.2): the type of each property, which packets (and the will) may
 * carry it, and their decoding, validation and canonical encoding.
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { PacketType, PropertyId } from "./constants.ts";
import type { Reader } from "./reader.ts";
import type { Properties, UserProperty } from "./types.ts";
import { isValidTopicName } from "./topic.ts";
import { utf8Length, varintLength, type Writer } from "./writer.ts";

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const TOPIC_ALIAS_INVALID = 0x94;

/**
 * Context number of the will properties of a CONNECT in {@linkcode decodeProperties}; packet
 * contexts use their packet type number (1..15), 0 is reserved in the packet type space.
 */
export const WILL_PROPERTIES = 0;

/** The MQTT data type of a property value (section 2.2.2.2). */
export type PropertyType = "byte" | "u16" | "u32" | "varint" | "utf8" | "binary" | "pair";

/** What the codec knows about one property. */
export interface PropertyInfo {
  readonly id: number;
  readonly key: keyof Properties;
  readonly type: PropertyType;
  /** Bit `1 << context` is set for each packet type (or WILL_PROPERTIES) that may carry it. */
  readonly contexts: number;
}

const bit = (...contexts: number[]): number => contexts.reduce((mask, c) => mask | (1 << c), 0);
const P = PacketType;
const ACKS = [P.Puback, P.Pubrec, P.Pubrel, P.Pubcomp];

/** Every MQTT 5 property in ascending identifier order, the order the encoder writes them in. */
export const PROPERTIES: readonly PropertyInfo[] = [
  {
    id: PropertyId.PayloadFormatIndicator,
    key: "payloadFormatIndicator",
    type: "byte",
    contexts: bit(P.Publish, WILL_PROPERTIES),
  },
  {
    id: PropertyId.MessageExpiryInterval,
    key: "messageExpiryInterval",
    type: "u32",
    contexts: bit(P.Publish, WILL_PROPERTIES),
  },
  {
    id: PropertyId.ContentType,
    key: "contentType",
    type: "utf8",
    contexts: bit(P.Publish, WILL_PROPERTIES),
  },
  {
    id: PropertyId.ResponseTopic,
    key: "responseTopic",
    type: "utf8",
    contexts: bit(P.Publish, WILL_PROPERTIES),
  },
  {
    id: PropertyId.CorrelationData,
    key: "correlationData",
    type: "binary",
    contexts: bit(P.Publish, WILL_PROPERTIES),
  },
  {
    id: PropertyId.SubscriptionIdentifier,
    key: "subscriptionIdentifiers",
    type: "varint",
    contexts: bit(P.Publish, P.Subscribe),
  },
  {
    id: PropertyId.SessionExpiryInterval,
    key: "sessionExpiryInterval",
    type: "u32",
    contexts: bit(P.Connect, P.Connack, P.Disconnect),
  },
  {
    id: PropertyId.AssignedClientIdentifier,
    key: "assignedClientIdentifier",
    type: "utf8",
    contexts: bit(P.Connack),
  },
  { id: PropertyId.ServerKeepAlive, key: "serverKeepAlive", type: "u16", contexts: bit(P.Connack) },
  {
    id: PropertyId.AuthenticationMethod,
    key: "authenticationMethod",
    type: "utf8",
    contexts: bit(P.Connect, P.Connack, P.Auth),
  },
  {
    id: PropertyId.AuthenticationData,
    key: "authenticationData",
    type: "binary",
    contexts: bit(P.Connect, P.Connack, P.Auth),
  },
  {
    id: PropertyId.RequestProblemInformation,
    key: "requestProblemInformation",
    type: "byte",
    contexts: bit(P.Connect),
  },
  {
    id: PropertyId.WillDelayInterval,
    key: "willDelayInterval",
    type: "u32",
    contexts: bit(WILL_PROPERTIES),
  },
  {
    id: PropertyId.RequestResponseInformation,
    key: "requestResponseInformation",
    type: "byte",
    contexts: bit(P.Connect),
  },
  {
    id: PropertyId.ResponseInformation,
    key: "responseInformation",
    type: "utf8",
    contexts: bit(P.Connack),
  },
  {
    id: PropertyId.ServerReference,
    key: "serverReference",
    type: "utf8",
    contexts: bit(P.Connack, P.Disconnect),
  },
  {
    id: PropertyId.ReasonString,
    key: "reasonString",
    type: "utf8",
    contexts: bit(P.Connack, ...ACKS, P.Suback, P.Unsuback, P.Disconnect, P.Auth),
  },
  {
    id: PropertyId.ReceiveMaximum,
    key: "receiveMaximum",
    type: "u16",
    contexts: bit(P.Connect, P.Connack),
  },
  {
    id: PropertyId.TopicAliasMaximum,
    key: "topicAliasMaximum",
    type: "u16",
    contexts: bit(P.Connect, P.Connack),
  },
  { id: PropertyId.TopicAlias, key: "topicAlias", type: "u16", contexts: bit(P.Publish) },
  { id: PropertyId.MaximumQoS, key: "maximumQoS", type: "byte", contexts: bit(P.Connack) },
  {
    id: PropertyId.RetainAvailable,
    key: "retainAvailable",
    type: "byte",
    contexts: bit(P.Connack),
  },
  {
    id: PropertyId.UserProperty,
    key: "userProperties",
    type: "pair",
    contexts: bit(
      P.Connect,
      P.Connack,
      P.Publish,
      WILL_PROPERTIES,
      ...ACKS,
      P.Subscribe,
      P.Suback,
      P.Unsubscribe,
      P.Unsuback,
      P.Disconnect,
      P.Auth,
    ),
  },
  {
    id: PropertyId.MaximumPacketSize,
    key: "maximumPacketSize",
    type: "u32",
    contexts: bit(P.Connect, P.Connack),
  },
  {
    id: PropertyId.WildcardSubscriptionAvailable,
    key: "wildcardSubscriptionAvailable",
    type: "byte",
    contexts: bit(P.Connack),
  },
  {
    id: PropertyId.SubscriptionIdentifierAvailable,
    key: "subscriptionIdentifiersAvailable",
    type: "byte",
    contexts: bit(P.Connack),
  },
  {
    id: PropertyId.SharedSubscriptionAvailable,
    key: "sharedSubscriptionAvailable",
    type: "byte",
    contexts: bit(P.Connack),
  },
];

const BY_ID: (PropertyInfo | undefined)[] = [];
for (const info of PROPERTIES) BY_ID[info.id] = info;

const CONTEXT_NAMES = [
  "will properties",
  "CONNECT properties",
  "CONNACK properties",
  "PUBLISH properties",
  "PUBACK properties",
  "PUBREC properties",
  "PUBREL properties",
  "PUBCOMP properties",
  "SUBSCRIBE properties",
  "SUBACK properties",
  "UNSUBSCRIBE properties",
  "UNSUBACK properties",
  "PINGREQ properties",
  "PINGRESP properties",
  "DISCONNECT properties",
  "AUTH properties",
];

/** Field names for error messages, built once: LABELS[context][id] = "PUBLISH properties: topicAlias". */
const LABELS: string[][] = CONTEXT_NAMES.map((where) => {
  const labels: string[] = [];
  for (const info of PROPERTIES) labels[info.id] = `${where}: ${info.key}`;
  return labels;
});
const LENGTH_LABELS = CONTEXT_NAMES.map((where) => `${where} length`);
const ID_LABELS = CONTEXT_NAMES.map((where) => `${where} identifier`);

/**
 * The property with identifier `id`, or undefined for an identifier MQTT 5 does not define.
 *
 * @example
 * ```ts
 * import { propertyInfo } from "./properties.ts";
 * propertyInfo(0x23)?.key; // "topicAlias"
 * ```
 */
export function propertyInfo(id: number): PropertyInfo | undefined {
  return BY_ID[id];
}

/**
 * Whether a packet of type `context` (or {@linkcode WILL_PROPERTIES}) may carry the property `id`
 * (section 2.2.2.2).
 */
export function isPropertyAllowed(id: number, context: number): boolean {
  const info = BY_ID[id];
  return info !== undefined && (info.contexts & (1 << context)) !== 0;
}

function protocolError(where: string, message: string): CodecError {
  return new CodecError(PROTOCOL_ERROR, `Cannot parse ${where}: ${message}`);
}

/**
 * Reads a property length and the properties that follow it. Returns undefined when there are
 * none, so that `properties` stays absent in the canonical packet.
 *
 * Rejects with MalformedPacket an identifier that MQTT 5 does not define or that `context` may not
 * carry (section 2.2.2.2); with ProtocolError a property given twice (except User Property, and
 * Subscription Identifier in PUBLISH [MQTT-3.3.4-4]) and values the spec forbids.
 */
export function decodeProperties(reader: Reader, context: number): Properties | undefined {
  const where = CONTEXT_NAMES[context] ?? "properties";
  const length = reader.varint(LENGTH_LABELS[context] ?? "properties length");
  if (length === 0) return undefined;
  const r = reader.sub(length, where);
  const properties: Properties = {};
  // Bit sets of identifiers seen so far; identifiers go up to 0x2A, past one 32-bit word.
  let seenLow = 0;
  let seenHigh = 0;
  const mask = 1 << context;
  while (r.remaining > 0) {
    const id = r.varint(ID_LABELS[context] ?? "property identifier");
    const info = BY_ID[id];
    if (info === undefined) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${where}: unknown property identifier 0x${id.toString(16)}`,
      );
    }
    if ((info.contexts & mask) === 0) {
      throw new CodecError(
        MALFORMED,
        `Cannot parse ${where}: property ${info.key} (0x${id.toString(16)}) is not allowed here`,
      );
    }
    const repeatable = info.type === "pair" ||
      (id === PropertyId.SubscriptionIdentifier && context === PacketType.Publish);
    if (!repeatable) {
      const seenBit = 1 << (id & 31);
      if (id < 32) {
        if ((seenLow & seenBit) !== 0) throw duplicate(where, info);
        seenLow |= seenBit;
      } else {
        if ((seenHigh & seenBit) !== 0) throw duplicate(where, info);
        seenHigh |= seenBit;
      }
    }
    const what = LABELS[context]?.[id] ?? info.key;
    switch (info.type) {
      case "byte": {
        const value = r.u8(what);
        // Every byte property is a 0/1 flag; other values are a Protocol Error (3.1.2.11.*,
        // 3.2.2.3.*); Payload Format Indicator is defined only for 0 and 1 (3.3.2.3.2).
        if (value > 1) throw protocolError(where, `${info.key} must be 0 or 1, got ${value}`);
        (properties as Record<string, number>)[info.key] = value;
        break;
      }
      case "u16": {
        const value = r.u16(what);
        if (value === 0) {
          if (id === PropertyId.ReceiveMaximum) {
            throw protocolError(where, "receiveMaximum must not be 0 (3.1.2.11.3, 3.2.2.3.3)");
          }
          if (id === PropertyId.TopicAlias) {
            throw new CodecError(
              TOPIC_ALIAS_INVALID,
              `Cannot parse ${where}: topicAlias must not be 0 [MQTT-3.3.2-8]`,
            );
          }
        }
        (properties as Record<string, number>)[info.key] = value;
        break;
      }
      case "u32": {
        const value = r.u32(what);
        if (value === 0 && id === PropertyId.MaximumPacketSize) {
          throw protocolError(where, "maximumPacketSize must not be 0 (3.1.2.11.4, 3.2.2.3.6)");
        }
        (properties as Record<string, number>)[info.key] = value;
        break;
      }
      case "varint": {
        // The only varint property is the Subscription Identifier.
        const value = r.varint(what);
        if (value === 0) {
          throw protocolError(where, "subscriptionIdentifier must not be 0 (3.3.2.3.8, 3.8.2.1.2)");
        }
        (properties.subscriptionIdentifiers ??= []).push(value);
        break;
      }
      case "utf8": {
        const value = r.utf8(what);
        if (id === PropertyId.ResponseTopic && !isValidTopicName(value)) {
          throw protocolError(
            where,
            `responseTopic ${
              JSON.stringify(value)
            } must be a topic name without wildcards [MQTT-3.3.2-14]`,
          );
        }
        (properties as Record<string, string>)[info.key] = value;
        break;
      }
      case "binary":
        (properties as Record<string, Uint8Array>)[info.key] = r.binary(what);
        break;
      case "pair":
        (properties.userProperties ??= []).push(r.pair(what));
        break;
    }
  }
  return properties;
}

function duplicate(where: string, info: PropertyInfo): CodecError {
  return protocolError(
    where,
    `property ${info.key} (0x${info.id.toString(16)}) appears more than once`,
  );
}

/**
 * Number of bytes the properties take on the wire without their length prefix. Throws
 * CodecError for a property that packets of type `context` may not carry, so that the encoder
 * never writes what the decoder would reject.
 */
export function propertiesLength(properties: Properties | undefined, context: number): number {
  if (properties === undefined) return 0;
  let length = 0;
  const mask = 1 << context;
  const where = CONTEXT_NAMES[context] ?? "properties";
  for (const key in properties) {
    const value = properties[key as keyof Properties];
    if (value === undefined) continue;
    const info = BY_KEY.get(key);
    if (info === undefined || (info.contexts & mask) === 0) {
      throw new CodecError(
        MALFORMED,
        `Cannot encode ${where}: property ${JSON.stringify(key)} is not allowed here`,
      );
    }
    switch (info.type) {
      case "byte":
        length += 2;
        break;
      case "u16":
        length += 3;
        break;
      case "u32":
        length += 5;
        break;
      case "varint":
        for (const id of value as number[]) length += 1 + varintLength(id);
        break;
      case "utf8":
        length += 3 + utf8Length(value as string, LABELS[context]?.[info.id] ?? key);
        break;
      case "binary":
        length += 3 + (value as Uint8Array).length;
        break;
      case "pair":
        for (const [name, v] of value as UserProperty[]) {
          length += 5 + utf8Length(name, "user property name") +
            utf8Length(v, "user property value");
        }
        break;
    }
  }
  return length;
}

const BY_KEY = new Map<string, PropertyInfo>(PROPERTIES.map((info) => [info.key, info]));

/**
 * Writes the property length `length` (from {@linkcode propertiesLength}) and the properties in
 * ascending identifier order, user properties in their given order.
 */
export function writeProperties(
  writer: Writer,
  properties: Properties | undefined,
  length: number,
): void {
  writer.varint(length);
  if (properties === undefined || length === 0) return;
  for (const info of PROPERTIES) {
    const value = properties[info.key];
    if (value === undefined) continue;
    switch (info.type) {
      case "byte":
        writer.u8(info.id);
        writer.u8(value as number);
        break;
      case "u16":
        writer.u8(info.id);
        writer.u16(value as number);
        break;
      case "u32":
        writer.u8(info.id);
        writer.u32(value as number);
        break;
      case "varint":
        for (const id of value as number[]) {
          writer.u8(info.id);
          writer.varint(id);
        }
        break;
      case "utf8":
        writer.u8(info.id);
        writer.utf8(value as string, utf8Length(value as string, info.key));
        break;
      case "binary":
        writer.u8(info.id);
        writer.binary(value as Uint8Array);
        break;
      case "pair":
        for (const pair of value as UserProperty[]) {
          writer.u8(info.id);
          writer.pair(
            pair,
            utf8Length(pair[0], "user property"),
            utf8Length(pair[1], "user property"),
          );
        }
        break;
    }
  }
}
