/**
 * MQTT 5 reason codes (section 2.4), MQTT 3.1/3.1.1 CONNACK return codes, and which reason codes
 * each packet type may carry.
 *
 * @module
 */

import { PacketType } from "./constants.ts";
import type { ProtocolVersion } from "./types.ts";

/** Every MQTT 5 reason code by name (section 2.4, table 2-6). */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** CONNACK return codes of MQTT 3.1 and 3.1.1 (section 3.2.2.3 of 3.1.1). */
export const ConnackReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** SUBACK return code of MQTT 3.1.1 for a refused subscription [MQTT-3.9.3-2]. */
export const SUBACK_FAILURE_V3 = 0x80;

const NAMES = new Map<number, string>();
for (const [name, code] of Object.entries(ReasonCode)) {
  // Several names share 0x00..0x02; the first listed (Success, GrantedQoS1, GrantedQoS2) wins.
  if (!NAMES.has(code)) NAMES.set(code, name);
}

/**
 * The name of an MQTT 5 reason code, for log lines.
 *
 * @example
 * ```ts
 * import { reasonCodeName } from "./reason_code.ts";
 * reasonCodeName(0x87); // "NotAuthorized"
 * reasonCodeName(0x42); // "Unknown(0x42)"
 * ```
 */
export function reasonCodeName(code: number): string {
  return NAMES.get(code) ?? `Unknown(0x${code.toString(16).padStart(2, "0")})`;
}

const ALLOWED = new Map<number, ReadonlySet<number>>([
  [
    PacketType.Connack,
    new Set([
      0x00,
      0x80,
      0x81,
      0x82,
      0x83,
      0x84,
      0x85,
      0x86,
      0x87,
      0x88,
      0x89,
      0x8a,
      0x8c,
      0x90,
      0x95,
      0x97,
      0x99,
      0x9a,
      0x9b,
      0x9c,
      0x9d,
      0x9f,
    ]),
  ],
  [PacketType.Puback, new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])],
  [PacketType.Pubrec, new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])],
  [PacketType.Pubrel, new Set([0x00, 0x92])],
  [PacketType.Pubcomp, new Set([0x00, 0x92])],
  [
    PacketType.Suback,
    new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  ],
  [PacketType.Unsuback, new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91])],
  [
    PacketType.Disconnect,
    new Set([
      0x00,
      0x04,
      0x80,
      0x81,
      0x82,
      0x83,
      0x87,
      0x89,
      0x8b,
      0x8d,
      0x8e,
      0x8f,
      0x90,
      0x93,
      0x94,
      0x95,
      0x96,
      0x97,
      0x98,
      0x99,
      0x9a,
      0x9b,
      0x9c,
      0x9d,
      0x9e,
      0x9f,
      0xa0,
      0xa1,
      0xa2,
    ]),
  ],
  [PacketType.Auth, new Set([0x00, 0x18, 0x19])],
]);

const ALLOWED_V3 = new Map<number, ReadonlySet<number>>([
  [PacketType.Connack, new Set([0, 1, 2, 3, 4, 5])],
  [PacketType.Suback, new Set([0x00, 0x01, 0x02, 0x80])],
]);

/**
 * The reason codes a packet type may carry (section 2.4, table 2-6), or for MQTT 3.x the CONNACK
 * return codes and SUBACK return codes. Undefined for packet types without reason codes.
 */
export function allowedReasonCodes(
  packetType: number,
  version: ProtocolVersion = 5,
): ReadonlySet<number> | undefined {
  return (version === 5 ? ALLOWED : ALLOWED_V3).get(packetType);
}

/**
 * Whether `code` is a reason code that a packet of `packetType` may carry in `version`
 * [MQTT-3.2.2-7] [MQTT-3.4.2-1] [MQTT-3.9.3-2] [MQTT-3.14.2-1] ...
 *
 * @example
 * ```ts
 * import { isReasonCodeAllowed } from "./reason_code.ts";
 * import { PacketType } from "./constants.ts";
 * isReasonCodeAllowed(PacketType.Puback, 0x10); // true: No matching subscribers
 * isReasonCodeAllowed(PacketType.Pubrel, 0x10); // false
 * ```
 */
export function isReasonCodeAllowed(
  packetType: number,
  code: number,
  version: ProtocolVersion = 5,
): boolean {
  return allowedReasonCodes(packetType, version)?.has(code) ?? false;
}

/**
 * The MQTT 3.1.1 CONNACK return code closest to an MQTT 5 CONNACK reason code, matching how
 * Mosquitto answers 3.x clients. Codes 0..5 are returned unchanged.
 *
 * @example
 * ```ts
 * import { toConnackReturnCode } from "./reason_code.ts";
 * toConnackReturnCode(0x86); // 4: bad user name or password
 * ```
 */
export function toConnackReturnCode(reasonCode: number): number {
  if (reasonCode <= 5) return reasonCode;
  switch (reasonCode) {
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return ConnackReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnackReturnCode.NotAuthorized;
    default:
      return ConnackReturnCode.ServerUnavailable;
  }
}
