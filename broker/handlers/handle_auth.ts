/**
 * AUTH (section 3.15). midge supports no enhanced authentication method, so any AUTH is refused.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { AuthPacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import { ProtocolError } from "../protocol_error.ts";

/**
 * Refuses AUTH with Protocol Error: a CONNECT naming a method was already refused with 0x8C, so
 * no method was agreed and any AUTH is a Protocol Error [MQTT-4.12.0-7] (0x8C itself is not a
 * DISCONNECT reason code, section 3.14.2.1).
 */
export function handleAuth(connection: Connection, packet: AuthPacket): void {
  const method = packet.properties?.authenticationMethod;
  if (connection.version !== 5) {
    throw new ProtocolError(ReasonCode.MalformedPacket, "AUTH exists only in MQTT 5");
  }
  throw new ProtocolError(
    ReasonCode.ProtocolError,
    method === undefined
      ? "AUTH without an authentication method"
      : `Authentication method "${method}" is not supported`,
  );
}
