/**
 * Topic remapping of a bridge, as Mosquitto's `bridge_topic.c` does it: a message going out takes
 * the first `out`/`both` topic line whose local filter matches, loses the local prefix and gains
 * the remote prefix; a message coming in is mapped back the same way through `in`/`both` lines.
 *
 * @module
 */

import { topicMatches } from "../../client/topic_match.ts";
import type { BridgeTopicConfig } from "../config/types.ts";

/** The line that carries a message out, and the topic it gets on the remote broker. */
export interface OutgoingRoute {
  readonly line: BridgeTopicConfig;
  readonly topic: string;
}

/**
 * Where a message published locally on `topic` goes on the remote broker: undefined when no
 * `out`/`both` line matches it.
 *
 * @example
 * ```ts
 * import { routeOut } from "./topics.ts";
 * const line = {
 *   pattern: "sensor/#", direction: "out", qos: 1, localPrefix: "home/", remotePrefix: "pi7/",
 *   localTopic: "home/sensor/#", remoteTopic: "pi7/sensor/#",
 * } as const;
 * routeOut([line], "home/sensor/kitchen")?.topic; // "pi7/sensor/kitchen"
 * ```
 */
export function routeOut(
  lines: readonly BridgeTopicConfig[],
  topic: string,
): OutgoingRoute | undefined {
  for (const line of lines) {
    if (line.direction === "in" || !topicMatches(line.localTopic, topic)) continue;
    return { line, topic: remap(topic, line.localPrefix, line.remotePrefix) };
  }
  return undefined;
}

/**
 * The local topic of a message received from the remote broker on `topic`. A message no `in` /
 * `both` line matches (left over from an old subscription of a persistent remote session) keeps
 * its topic, as in Mosquitto.
 *
 * @example
 * ```ts
 * import { routeIn } from "./topics.ts";
 * const line = {
 *   pattern: "cmd/#", direction: "in", qos: 1, localPrefix: "home/", remotePrefix: "pi7/",
 *   localTopic: "home/cmd/#", remoteTopic: "pi7/cmd/#",
 * } as const;
 * routeIn([line], "pi7/cmd/heating"); // "home/cmd/heating"
 * ```
 */
export function routeIn(lines: readonly BridgeTopicConfig[], topic: string): string {
  for (const line of lines) {
    if (line.direction === "out" || !topicMatches(line.remoteTopic, topic)) continue;
    return remap(topic, line.remotePrefix, line.localPrefix);
  }
  return topic;
}

/** True when a message sent to the remote on `topic` comes back through an `in`/`both` line. */
export function isSubscribedRemotely(lines: readonly BridgeTopicConfig[], topic: string): boolean {
  return lines.some((line) => line.direction !== "out" && topicMatches(line.remoteTopic, topic));
}

function remap(topic: string, from: string | undefined, to: string | undefined): string {
  let rest = topic;
  if (from !== undefined && rest.startsWith(from)) rest = rest.slice(from.length);
  return to === undefined ? rest : to + rest;
}
