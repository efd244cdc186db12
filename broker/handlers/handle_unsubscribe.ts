/**
 * UNSUBSCRIBE (section 3.10).
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { UnsubscribePacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";

/** Handles an UNSUBSCRIBE; v5 clients learn per filter whether a subscription existed. */
export function handleUnsubscribe(connection: Connection, packet: UnsubscribePacket): void {
  const broker = connection.broker;
  const session = connection.session;
  if (!session) return;
  const reasonCodes: number[] = [];
  for (const topicFilter of packet.topicFilters) {
    const sub = session.subscriptions.get(topicFilter);
    if (sub) {
      session.subscriptions.delete(topicFilter);
      if (broker.persists(session)) broker.store!.deleteSubscription(session.clientId, topicFilter);
      broker.subscriptions.remove(session.clientId, sub.filter, sub.group);
    }
    reasonCodes.push(sub ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
    if (broker.options.verbose) {
      broker.log.debug(`${connection.clientId} unsubscribed from ${topicFilter}`);
    }
  }
  // [MQTT-3.11.3-1]: below v5 UNSUBACK has no payload.
  connection.send({
    type: "unsuback",
    packetId: packet.packetId,
    reasonCodes: connection.version === 5 ? reasonCodes : [],
  });
}
