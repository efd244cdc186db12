/**
 * SUBSCRIBE (section 3.8): validation, SUBACK, then retained messages per Retain Handling.
 *
 * @module
 */

import { ReasonCode, SUBACK_FAILURE_V3 } from "../../codec/reason_code.ts";
import { parseSharedSubscription, validateTopicFilter } from "../../codec/topic.ts";
import type { QoS, SubscribePacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import { ProtocolError } from "../protocol_error.ts";
import type { SessionSubscription } from "../session.ts";

/** Handles a SUBSCRIBE. */
export function handleSubscribe(connection: Connection, packet: SubscribePacket): void {
  const broker = connection.broker;
  const session = connection.session;
  if (!session) return;
  const v5 = connection.version === 5;
  const identifiers = packet.properties?.subscriptionIdentifiers;
  if (identifiers !== undefined && identifiers.length > 1) {
    // Section 3.8.2.1.2: at most one Subscription Identifier in a SUBSCRIBE.
    throw new ProtocolError(ReasonCode.ProtocolError, "More than one subscription identifier");
  }
  const identifier = identifiers?.[0] ?? 0;
  const reasonCodes: number[] = [];
  const retainedFor: { sub: SessionSubscription; isNew: boolean }[] = [];

  for (const requested of packet.subscriptions) {
    let filter = requested.topicFilter;
    let group: string | undefined;
    const shared = parseSharedSubscription(filter);
    try {
      if (filter.startsWith("$share/") && !shared) throw new Error("bad share name");
      if (shared) {
        group = shared.group;
        filter = shared.filter;
      }
      validateTopicFilter(filter);
    } catch {
      reasonCodes.push(v5 ? ReasonCode.TopicFilterInvalid : SUBACK_FAILURE_V3);
      if (broker.options.verbose) {
        broker.log.debug(
          `Invalid subscription "${requested.topicFilter}" from ${connection.clientId}.`,
        );
      }
      continue;
    }
    if (!connection.listener.settings.security.canSubscribe(connection, filter)) {
      // Section 3.9.3: 3.1.1 answers 0x80 Failure; 5.0 answers 0x87 Not authorized.
      reasonCodes.push(v5 ? ReasonCode.NotAuthorized : SUBACK_FAILURE_V3);
      continue;
    }
    if (group !== undefined && requested.noLocal) {
      // [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
      throw new ProtocolError(
        ReasonCode.ProtocolError,
        `No Local set on shared subscription "${requested.topicFilter}"`,
      );
    }
    const qos =
      (requested.qos > broker.options.maxQos ? broker.options.maxQos : requested.qos) as QoS;
    const sub: SessionSubscription = {
      ...requested,
      qos,
      group,
      filter,
      identifier,
    };
    // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one.
    const isNew = !session.subscriptions.has(requested.topicFilter);
    session.subscriptions.set(requested.topicFilter, sub);
    // Recorded before the SUBACK goes out: the connection commits the store before any write.
    if (broker.persists(session)) broker.store!.putSubscription(session.clientId, sub);
    broker.subscriptions.add({
      clientId: session.clientId,
      filter,
      qos,
      // A bridge never gets its own messages back, and keeps their RETAIN flag (Mosquitto's
      // is_bridge), so that two brokers bridged both ways do not loop.
      noLocal: requested.noLocal || connection.isBridge && group === undefined,
      retainAsPublished: requested.retainAsPublished || connection.isBridge,
      identifier,
    }, group);
    reasonCodes.push(qos);
    if (broker.options.verbose) {
      broker.log.debug(`${connection.clientId} ${qos} ${requested.topicFilter}`);
    }
    // Retained messages are not sent for shared subscriptions (section 4.8.2).
    if (group === undefined) retainedFor.push({ sub, isNew });
  }

  connection.send({ type: "suback", packetId: packet.packetId, reasonCodes });

  const now = Date.now();
  for (const { sub, isNew } of retainedFor) {
    // [MQTT-3.3.1-9..11]: Retain Handling 0 always, 1 only for a new subscription, 2 never.
    if (sub.retainHandling === 2 || sub.retainHandling === 1 && !isNew) continue;
    for (const message of broker.retained.match(sub.filter, now)) {
      const security = connection.listener.settings.security;
      if (security.restrictsRead && !security.canRead(session.identity, message.topic)) continue;
      broker.deliver(
        session,
        {
          message,
          qos: (message.qos < sub.qos ? message.qos : sub.qos) as QoS,
          retain: true, // [MQTT-3.3.1-8]: retained on subscribe → RETAIN set
          identifiers: sub.identifier !== 0 ? [sub.identifier] : [],
        },
        undefined,
        now,
      );
    }
  }
}
