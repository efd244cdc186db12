/**
 * PUBLISH from a client (section 3.3): topic aliases, limits, routing, PUBACK/PUBREC, and
 * exactly-once for QoS 2.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import type { Properties, PublishPacket } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import type { Message } from "../message.ts";
import { Drop } from "../metrics/broker_metrics.ts";
import { ProtocolError } from "../protocol_error.ts";
import { memoryInUse } from "./handle_connect.ts";

/** Handles a PUBLISH sent by a client. */
export function handlePublish(connection: Connection, packet: PublishPacket): void {
  const broker = connection.broker;
  const options = broker.options;
  const session = connection.session;
  if (!session) return;
  // Mosquitto counts every PUBLISH received, before any check ($SYS publish/messages/received).
  connection.metrics.publishReceived[packet.qos]!++;
  let topic = packet.topic;
  let properties = packet.properties;
  let expiresAt = 0;

  if (properties !== undefined) {
    const { topicAlias, subscriptionIdentifiers, messageExpiryInterval, ...rest } = properties;
    if (subscriptionIdentifiers !== undefined) {
      // [MQTT-3.3.4-6]: only the server puts subscription identifiers in a PUBLISH.
      throw new ProtocolError(
        ReasonCode.ProtocolError,
        "A PUBLISH from a client must not carry a subscription identifier",
      );
    }
    if (topicAlias !== undefined) {
      // [MQTT-3.3.2-9]: 0 or above our Topic Alias Maximum is a Topic Alias invalid error.
      const maximum = connection.listener.settings.topicAliasMaximum;
      if (topicAlias === 0 || topicAlias > maximum) {
        throw new ProtocolError(
          ReasonCode.TopicAliasInvalid,
          `Topic alias ${topicAlias} is outside 1..${maximum}`,
        );
      }
      if (topic === "") {
        const known = connection.inboundAliases.get(topicAlias);
        if (known === undefined) {
          // Section 3.3.2.3.4: an empty topic with an alias never set up is a Protocol Error.
          throw new ProtocolError(
            ReasonCode.ProtocolError,
            `Topic alias ${topicAlias} was never set up`,
          );
        }
        topic = known;
      } else {
        connection.inboundAliases.set(topicAlias, topic);
      }
    } else if (topic === "") {
      throw new ProtocolError(ReasonCode.ProtocolError, "Empty topic without a topic alias");
    }
    if (messageExpiryInterval !== undefined) {
      expiresAt = Date.now() + messageExpiryInterval * 1000;
    }
    properties = hasKeys(rest) ? rest : undefined;
  }

  if (packet.qos > options.maxQos) {
    throw new ProtocolError(ReasonCode.QoSNotSupported, `QoS ${packet.qos} is not supported`);
  }
  if (packet.retain && !options.retainAvailable) {
    throw new ProtocolError(ReasonCode.RetainNotSupported, "Retained messages are not supported");
  }
  if (broker.options.verbose) {
    broker.log.debug(
      `Received PUBLISH from ${connection.clientId} (d${packet.dup ? 1 : 0}, q${packet.qos}, r${
        packet.retain ? 1 : 0
      }, m${packet.packetId ?? 0}, '${topic}', ... (${packet.payload.length} bytes))`,
    );
  }

  // Over message_size_limit, or memory_limit reached: QoS 0 dropped, QoS 1/2 answered 0x97.
  const tooBig = options.messageSizeLimit > 0 && packet.payload.length > options.messageSizeLimit ||
    options.memoryLimit > 0 && memoryInUse() > options.memoryLimit;
  // Mosquitto: a denied QoS 0 publish is dropped silently; QoS 1/2 are acknowledged with 0x87.
  const denied = !connection.listener.settings.security.canWrite(connection, topic);
  if (denied) broker.metrics.dropped[Drop.NotAuthorized]!++;
  else if (tooBig) broker.metrics.dropped[Drop.TooLarge]!++;
  const message: Message = {
    topic,
    payload: packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    properties,
    expiresAt,
    origin: connection.clientId,
  };

  switch (packet.qos) {
    case 0:
      if (!tooBig && !denied) broker.publish(message);
      return;
    case 1: {
      // Mosquitto 2.0 answers 0x10 when nobody subscribed; 0x97 for a payload over the limit.
      const matched = tooBig || denied ? 0 : broker.publish(message);
      const reasonCode = denied
        ? ReasonCode.NotAuthorized
        : tooBig
        ? ReasonCode.QuotaExceeded
        : matched === 0
        ? ReasonCode.NoMatchingSubscribers
        : ReasonCode.Success;
      connection.send(ack(connection, "puback", packet.packetId as number, reasonCode));
      return;
    }
    case 2: {
      const packetId = packet.packetId as number;
      let reasonCode: number = ReasonCode.Success;
      if (session.incomingQos2.has(packetId)) {
        // [MQTT-4.3.3-9]: a re-sent PUBLISH before PUBREL is acknowledged, not delivered again.
      } else if (denied) {
        reasonCode = ReasonCode.NotAuthorized;
      } else if (tooBig) {
        reasonCode = ReasonCode.QuotaExceeded;
      } else {
        // [MQTT-3.3.4-9]: the client may not have more QoS 2 PUBLISHes unanswered than our
        // Receive Maximum.
        if (session.incomingQos2.size >= options.receiveMaximum) {
          throw new ProtocolError(
            ReasonCode.ReceiveMaximumExceeded,
            `More than ${options.receiveMaximum} QoS 2 messages in flight`,
          );
        }
        session.incomingQos2.add(packetId);
        // Exactly-once across a restart: the id is durable before the PUBREC leaves.
        if (broker.persists(session)) broker.store!.putIncomingQos2(session.clientId, packetId);
        if (broker.publish(message) === 0) reasonCode = ReasonCode.NoMatchingSubscribers;
      }
      connection.send(ack(connection, "pubrec", packetId, reasonCode));
      return;
    }
  }
}

function ack(
  connection: Connection,
  type: "puback" | "pubrec",
  packetId: number,
  reasonCode: number,
) {
  return connection.version === 5 ? { type, packetId, reasonCode } : { type, packetId };
}

function hasKeys(properties: Properties): boolean {
  for (const _ in properties) return true;
  return false;
}
