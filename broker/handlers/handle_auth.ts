/**
 * AUTH (section 3.15). midge supports no enhanced authentication method, so any AUTH is refused.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { AuthPacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import { ProtocolError } from "../protocol_error.ts";

/** Refuses AUTH: 0x8C for a method we do not know, 0x82 when no method was agreed at CONNECT. */
export function handleAuth(connection: Connection, packet: AuthPacket): void {
  const method = packet.properties?.authenticationMethod;
  if (connection.version !== 5) {
    throw new ProtocolError(ReasonCode.MalformedPacket, "AUTH exists only in MQTT 5");
  }
  if (method !== undefined) {
    throw new ProtocolError(
      ReasonCode.BadAuthenticationMethod,
      `Authentication method "${method}" is not supported`,
    );
  }
  // [MQTT-4.12.0-7]: AUTH without a method agreed at CONNECT is a Protocol Error.
  throw new ProtocolError(ReasonCode.ProtocolError, "AUTH without an authentication method");
}
