/**
 * DISCONNECT from a client (section 3.14).
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { DisconnectPacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import { DisconnectReason } from "../metrics/broker_metrics.ts";
import { ProtocolError } from "../protocol_error.ts";

/**
 * A normal DISCONNECT discards the will [MQTT-3.14.4-3]; v5 reason 0x04 keeps it. A v5 client
 * may change its Session Expiry Interval here, but not from 0 [MQTT-3.14.2-2].
 */
export function handleDisconnect(connection: Connection, packet: DisconnectPacket): void {
  const session = connection.session;
  const expiry = packet.properties?.sessionExpiryInterval;
  if (session && expiry !== undefined) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      throw new ProtocolError(
        ReasonCode.ProtocolError,
        "Session expiry interval cannot be set at DISCONNECT when it was 0 at CONNECT",
      );
    }
    session.expiryInterval = expiry;
  }
  connection.publishWillOnClose = packet.reasonCode === ReasonCode.DisconnectWithWillMessage;
  if (connection.broker.options.connectionMessages) {
    connection.broker.log.info(`Client ${connection.clientId} disconnected.`);
  }
  connection.disconnectReason = DisconnectReason.Client;
  // [MQTT-3.14.4-1]: the sender closes; the server sends nothing back.
  connection.destroy();
}
