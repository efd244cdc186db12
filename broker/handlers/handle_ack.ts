/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP from a client (sections 3.4–3.7, flows of section 4.3).
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { AckPacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";

/** Handles an acknowledgement sent by a client. */
export function handleAck(connection: Connection, packet: AckPacket): void {
  const broker = connection.broker;
  const session = connection.session;
  if (!session) return;
  const v5 = connection.version === 5;
  const id = packet.packetId;
  switch (packet.type) {
    case "puback": {
      const item = session.inflight.get(id);
      if (item && item.qos === 1) {
        session.inflight.delete(id);
        broker.persistInflight(session, item, true);
        broker.drainQueue(session);
      }
      return;
    }
    case "pubrec": {
      const item = session.inflight.get(id);
      if (!item || item.qos !== 2) {
        // Section 4.3.3: answer an unknown id with 0x92 so the client can finish its flow.
        connection.send({
          type: "pubrel",
          packetId: id,
          ...(v5 ? { reasonCode: ReasonCode.PacketIdentifierNotFound } : {}),
        });
        return;
      }
      if ((packet.reasonCode ?? 0) >= 0x80) {
        // Section 4.3.3: a PUBREC with a failure code ends the flow; no PUBREL follows.
        session.inflight.delete(id);
        broker.persistInflight(session, item, true);
        broker.drainQueue(session);
        return;
      }
      item.state = "pubrel";
      broker.persistInflight(session, item, false);
      connection.send({ type: "pubrel", packetId: id, ...(v5 ? { reasonCode: 0 } : {}) });
      return;
    }
    case "pubcomp": {
      const item = session.inflight.get(id);
      if (item && item.state === "pubrel") {
        session.inflight.delete(id);
        broker.persistInflight(session, item, true);
        broker.drainQueue(session);
      }
      return;
    }
    case "pubrel": {
      // Section 3.7.2.1: releases a received QoS 2 id; an unknown one gets 0x92.
      const known = session.incomingQos2.delete(id);
      if (known && broker.persists(session)) broker.store!.deleteIncomingQos2(session.clientId, id);
      connection.send({
        type: "pubcomp",
        packetId: id,
        ...(v5
          ? { reasonCode: known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound }
          : {}),
      });
      return;
    }
  }
}
