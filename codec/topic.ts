/**
 * Topic name and topic filter rules (section 4.7) and shared subscription filters
 * `$share/{ShareName}/{filter}` (section 4.8.2).
 *
 * @module
 */

import { CodecError } from "./codec_error.ts";
import { MAX_STRING_LENGTH } from "./constants.ts";

const TOPIC_FILTER_INVALID = 0x8f;
const TOPIC_NAME_INVALID = 0x90;
const SHARE_PREFIX = "$share/";

const PLUS = 0x2b; // "+"
const HASH = 0x23; // "#"
const SLASH = 0x2f; // "/"

function describeName(topic: string): string {
  return topic.length > 80 ? `${JSON.stringify(topic.slice(0, 80))}...` : JSON.stringify(topic);
}

/** Why `topic` is not a valid topic name, or undefined when it is. */
function topicNameProblem(topic: string): string | undefined {
  const n = topic.length;
  if (n === 0) return "a topic name must be at least one character long [MQTT-4.7.3-1]";
  if (n * 3 > MAX_STRING_LENGTH && new TextEncoder().encode(topic).length > MAX_STRING_LENGTH) {
    return `longer than ${MAX_STRING_LENGTH} bytes [MQTT-4.7.3-3]`;
  }
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) {
      return "a topic name must not contain the wildcards '+' or '#' [MQTT-3.3.2-2]";
    }
    if (c === 0) return "a topic name must not contain U+0000 [MQTT-4.7.3-2]";
  }
  return undefined;
}

/** Why `filter` is not a valid topic filter, or undefined when it is. */
function topicFilterProblem(filter: string): string | undefined {
  let start = 0;
  if (filter.startsWith(SHARE_PREFIX)) {
    const slash = filter.indexOf("/", SHARE_PREFIX.length);
    if (slash === -1) {
      return "a shared subscription needs '$share/{ShareName}/{filter}' [MQTT-4.8.2-2]";
    }
    if (slash === SHARE_PREFIX.length) return "the ShareName must not be empty [MQTT-4.8.2-1]";
    for (let i = SHARE_PREFIX.length; i < slash; i++) {
      const c = filter.charCodeAt(i);
      if (c === PLUS || c === HASH) {
        return "the ShareName must not contain '+' or '#' [MQTT-4.8.2-2]";
      }
    }
    start = slash + 1;
    if (start === filter.length) {
      return "a shared subscription needs a topic filter after the ShareName [MQTT-4.8.2-2]";
    }
  }
  const n = filter.length;
  if (n === 0) return "a topic filter must be at least one character long [MQTT-4.7.3-1]";
  if (n * 3 > MAX_STRING_LENGTH && new TextEncoder().encode(filter).length > MAX_STRING_LENGTH) {
    return `longer than ${MAX_STRING_LENGTH} bytes [MQTT-4.7.3-3]`;
  }
  for (let i = start; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS) {
      // "+" must occupy an entire level [MQTT-4.7.1-2].
      const before = i === start || filter.charCodeAt(i - 1) === SLASH;
      const after = i + 1 === n || filter.charCodeAt(i + 1) === SLASH;
      if (!before || !after) return "'+' must occupy an entire topic level [MQTT-4.7.1-2]";
    } else if (c === HASH) {
      // "#" must be the last character and occupy an entire level [MQTT-4.7.1-1].
      const before = i === start || filter.charCodeAt(i - 1) === SLASH;
      if (!before || i + 1 !== n) {
        return "'#' must be the last character and occupy an entire level [MQTT-4.7.1-1]";
      }
    } else if (c === 0) {
      return "a topic filter must not contain U+0000 [MQTT-4.7.3-2]";
    }
  }
  return undefined;
}

/**
 * Throws `CodecError(0x90 TopicNameInvalid)` unless `topic` is a valid topic name: not empty, no
 * wildcards, no U+0000, at most 65,535 bytes of UTF-8.
 *
 * @example
 * ```ts
 * import { validateTopicName } from "./topic.ts";
 * validateTopicName("sensors/1/temp"); // ok
 * // validateTopicName("sensors/+") throws CodecError 0x90
 * ```
 */
export function validateTopicName(topic: string): void {
  const problem = topicNameProblem(topic);
  if (problem !== undefined) {
    throw new CodecError(
      TOPIC_NAME_INVALID,
      `Cannot use topic name ${describeName(topic)}: ${problem}`,
    );
  }
}

/**
 * Throws `CodecError(0x8F TopicFilterInvalid)` unless `filter` is a valid topic filter: not empty,
 * `+` and `#` only as whole levels, `#` last; `$share/{ShareName}/{filter}` with a non-empty
 * ShareName free of wildcards and a non-empty filter.
 *
 * @example
 * ```ts
 * import { validateTopicFilter } from "./topic.ts";
 * validateTopicFilter("sensors/+/temp"); // ok
 * validateTopicFilter("$share/group/sensors/#"); // ok
 * // validateTopicFilter("sensors/#/temp") throws CodecError 0x8F
 * ```
 */
export function validateTopicFilter(filter: string): void {
  const problem = topicFilterProblem(filter);
  if (problem !== undefined) {
    throw new CodecError(
      TOPIC_FILTER_INVALID,
      `Cannot use topic filter ${describeName(filter)}: ${problem}`,
    );
  }
}

/**
 * Whether `s` is a valid topic name (see {@linkcode validateTopicName}).
 *
 * @example
 * ```ts
 * import { isValidTopicName } from "./topic.ts";
 * isValidTopicName("a/b"); // true
 * isValidTopicName("a/#"); // false
 * ```
 */
export function isValidTopicName(s: string): boolean {
  return topicNameProblem(s) === undefined;
}

/**
 * Whether `s` is a valid topic filter (see {@linkcode validateTopicFilter}).
 *
 * @example
 * ```ts
 * import { isValidTopicFilter } from "./topic.ts";
 * isValidTopicFilter("a/+/c"); // true
 * isValidTopicFilter("a/b+"); // false
 * ```
 */
export function isValidTopicFilter(s: string): boolean {
  return topicFilterProblem(s) === undefined;
}

/**
 * Splits a shared subscription filter `$share/{ShareName}/{filter}` into its parts; undefined for
 * a filter that is not a shared subscription or is not well-formed (check with
 * {@linkcode validateTopicFilter} first to learn why).
 *
 * @example
 * ```ts
 * import { parseSharedSubscription } from "./topic.ts";
 * parseSharedSubscription("$share/g/a/+"); // { group: "g", filter: "a/+" }
 * parseSharedSubscription("a/+"); // undefined
 * ```
 */
export function parseSharedSubscription(
  filter: string,
): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  if (slash <= SHARE_PREFIX.length || slash + 1 === filter.length) return undefined;
  const group = filter.slice(SHARE_PREFIX.length, slash);
  if (group.includes("+") || group.includes("#")) return undefined;
  return { group, filter: filter.slice(slash + 1) };
}
