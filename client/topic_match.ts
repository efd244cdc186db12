/**
 * Topic filter matching (section 4.7), for `midge sub -T` and other client-side filtering.
 *
 * @module
 */

/**
 * Whether `topic` (a topic name) matches `filter` (a topic filter with `+` and `#`). A filter
 * starting with a wildcard does not match a topic starting with `$` [MQTT-4.7.2-1].
 *
 * @example
 * ```ts
 * import { topicMatches } from "./topic_match.ts";
 * topicMatches("sensor/+/temp", "sensor/1/temp"); // true
 * topicMatches("sport/#", "sport"); // true: '#' includes the parent level [MQTT-4.7.1-2]
 * topicMatches("#", "$SYS/uptime"); // false
 * ```
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}
