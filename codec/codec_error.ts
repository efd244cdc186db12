/**
 * The one error type the codec throws.
 *
 * @module
 */

import type { ProtocolVersion } from "./types.ts";

/**
 * Bytes that break the MQTT rules, or a packet that cannot be encoded. `reasonCode` is the MQTT 5
 * reason code the connection should be closed with (0x81 MalformedPacket, 0x82 ProtocolError,
 * 0x95 PacketTooLarge, ...).
 *
 * @example
 * ```ts
 * import { CodecError } from "./codec_error.ts";
 * const error = new CodecError(0x81, "Cannot parse topic: length 9 exceeds remaining 4");
 * error.reasonCode; // 0x81
 * ```
 */
export class CodecError extends Error {
  /** MQTT 5 reason code describing the failure. */
  readonly reasonCode: number;
  /**
   * Protocol level of the CONNECT being decoded, set once the level byte has been read, so that the
   * broker can answer with a CONNACK in the client's format (3.x return code or 5.0 reason code).
   */
  protocolVersion?: ProtocolVersion;

  constructor(reasonCode: number, message: string, protocolVersion?: ProtocolVersion) {
    super(message);
    this.name = "CodecError";
    this.reasonCode = reasonCode;
    if (protocolVersion !== undefined) this.protocolVersion = protocolVersion;
  }
}
