/**
 * Errors of {@linkcode MqttClient}, with the wording Mosquitto's clients print, so that scripts
 * that grep `mosquitto_pub` output keep working with `midge pub`.
 *
 * @module
 */

import type { ProtocolVersion } from "../codec/types.ts";

/** The network or the protocol failed: the socket could not be opened, broke, or the broker closed it. */
export class MqttConnectionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MqttConnectionError";
  }
}

/**
 * The broker answered CONNECT with a refusal. `reasonCode` is the CONNACK return code (3.x) or
 * reason code (5.0); `mosquitto_pub` exits with it, and so do `midge pub` and `midge sub`.
 *
 * @example
 * ```ts
 * import { ConnectionRefusedError } from "./errors.ts";
 * const error = new ConnectionRefusedError(5, 4);
 * error.message; // "Connection Refused: not authorised."
 * ```
 */
export class ConnectionRefusedError extends Error {
  /** CONNACK return code (3.x) or reason code (5.0). */
  readonly reasonCode: number;

  constructor(reasonCode: number, version: ProtocolVersion) {
    super(connackMessage(reasonCode, version));
    this.name = "ConnectionRefusedError";
    this.reasonCode = reasonCode;
  }
}

/** libmosquitto's `mosquitto_connack_string()` wording for 3.x return codes. */
const V3_CONNACK: readonly string[] = [
  "Connection Accepted.",
  "Connection Refused: unacceptable protocol version.",
  "Connection Refused: identifier rejected.",
  "Connection Refused: broker unavailable.",
  "Connection Refused: bad user name or password.",
  "Connection Refused: not authorised.",
];

/** libmosquitto's `mosquitto_reason_string()` wording for MQTT 5 reason codes. */
const V5_REASONS = new Map<number, string>([
  [0x00, "Success"],
  [0x04, "Disconnect with Will Message"],
  [0x10, "No matching subscribers"],
  [0x11, "No subscription existed"],
  [0x18, "Continue authentication"],
  [0x19, "Re-authenticate"],
  [0x80, "Unspecified error"],
  [0x81, "Malformed packet"],
  [0x82, "Protocol error"],
  [0x83, "Implementation specific error"],
  [0x84, "Unsupported protocol version"],
  [0x85, "Client identifier not valid"],
  [0x86, "Bad username or password"],
  [0x87, "Not authorized"],
  [0x88, "Server unavailable"],
  [0x89, "Server busy"],
  [0x8a, "Banned"],
  [0x8b, "Server shutting down"],
  [0x8c, "Bad authentication method"],
  [0x8d, "Keep alive timeout"],
  [0x8e, "Session taken over"],
  [0x8f, "Topic filter invalid"],
  [0x90, "Topic name invalid"],
  [0x91, "Packet identifier in use"],
  [0x92, "Packet identifier not found"],
  [0x93, "Receive maximum exceeded"],
  [0x94, "Topic alias invalid"],
  [0x95, "Packet too large"],
  [0x96, "Message rate too high"],
  [0x97, "Quota exceeded"],
  [0x98, "Administrative action"],
  [0x99, "Payload format invalid"],
  [0x9a, "Retain not supported"],
  [0x9b, "QoS not supported"],
  [0x9c, "Use another server"],
  [0x9d, "Server moved"],
  [0x9e, "Shared subscriptions not supported"],
  [0x9f, "Connection rate exceeded"],
  [0xa0, "Maximum connect time"],
  [0xa1, "Subscription identifiers not supported"],
  [0xa2, "Wildcard subscriptions not supported"],
]);

/**
 * Human wording of a CONNACK code as Mosquitto prints it after `Connection error: `.
 *
 * @example
 * ```ts
 * import { connackMessage } from "./errors.ts";
 * connackMessage(5, 4); // "Connection Refused: not authorised."
 * connackMessage(0x87, 5); // "Not authorized"
 * ```
 */
export function connackMessage(code: number, version: ProtocolVersion): string {
  if (version === 5) return reasonString(code);
  return V3_CONNACK[code] ?? "Connection Refused: unknown reason.";
}

/**
 * Human wording of an MQTT 5 reason code, as libmosquitto's `mosquitto_reason_string()`.
 *
 * @example
 * ```ts
 * import { reasonString } from "./errors.ts";
 * reasonString(0x10); // "No matching subscribers"
 * ```
 */
export function reasonString(code: number): string {
  return V5_REASONS.get(code) ?? "Unknown reason";
}
