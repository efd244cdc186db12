/**
 * Debug lines in libmosquitto's wording (`Client x sending PUBLISH (d0, q1, r0, m1, 'a', ... (5
 * bytes))`), so that `midge pub -d` reads like `mosquitto_pub -d` and tests can parse either.
 *
 * @module
 */

import type { Packet } from "../codec/types.ts";

/** Whether the packet was written to or read from the broker. */
export type Direction = "sending" | "received";

/**
 * The debug lines for one packet, without the `Client <id> ` prefix. SUBSCRIBE and UNSUBSCRIBE
 * give one line per topic filter, as libmosquitto does.
 *
 * @example
 * ```ts
 * import { describePacket } from "./debug.ts";
 * describePacket({ type: "puback", packetId: 1, reasonCode: 0 }, "received");
 * // ["received PUBACK (Mid: 1, RC:0)"]
 * ```
 */
export function describePacket(packet: Packet, direction: Direction): string[] {
  const name = packet.type.toUpperCase();
  const sending = direction === "sending";
  switch (packet.type) {
    case "connack":
      return [`${direction} CONNACK (${packet.reasonCode})`];
    case "publish":
      return [
        `${direction} PUBLISH (d${packet.dup ? 1 : 0}, q${packet.qos}, r${
          packet.retain ? 1 : 0
        }, m${packet.packetId ?? 0}, '${packet.topic}', ... (${packet.payload.length} bytes))`,
      ];
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const rc = packet.reasonCode ?? 0;
      if (sending) {
        return [
          packet.type === "pubrel" || packet.type === "pubcomp"
            ? `sending ${name} (m${packet.packetId})`
            : `sending ${name} (m${packet.packetId}, rc${rc})`,
        ];
      }
      return [
        packet.type === "pubrec" || packet.type === "pubrel"
          ? `received ${name} (Mid: ${packet.packetId})`
          : `received ${name} (Mid: ${packet.packetId}, RC:${rc})`,
      ];
    }
    case "subscribe":
      return packet.subscriptions.map((s) => {
        const options = (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) |
          (s.retainHandling << 4);
        return `${direction} SUBSCRIBE (Mid: ${packet.packetId}, Topic: ${s.topicFilter}, QoS: ${s.qos}, Options: 0x${
          options.toString(16).padStart(2, "0")
        })`;
      });
    case "unsubscribe":
      return packet.topicFilters.map((f) =>
        `${direction} UNSUBSCRIBE (Mid: ${packet.packetId}, Topic: ${f})`
      );
    case "disconnect":
      return [
        !sending && packet.reasonCode !== undefined
          ? `received DISCONNECT (${packet.reasonCode})`
          : `${direction} DISCONNECT`,
      ];
    default:
      return [`${direction} ${name}`];
  }
}
