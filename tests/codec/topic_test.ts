/** Topic names, topic filters and shared subscriptions (sections 4.7, 4.8.2). */

import assert, { deepStrictEqual } from "node:assert/strict";
import {
  CodecError,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  validateTopicFilter,
  validateTopicName,
} from "../../codec/mod.ts";

function assertCodecError(fn: () => unknown, reasonCode: number, context: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof CodecError, `${context}: expected a CodecError, got ${caught}`);
  deepStrictEqual(caught.reasonCode, reasonCode, `${context}: ${caught.message}`);
  assert(caught.message.length > 0);
}

const VALID_NAMES = [
  "a",
  "/",
  "a/b/c",
  "/leading",
  "trailing/",
  "a//b",
  "$SYS/broker/uptime",
  "sport/tennis/player1",
  "€/ü/日本",
  " ",
  "$share", // not a filter context: just a topic name
  "x".repeat(65_535),
];
const INVALID_NAMES = [
  "", // [MQTT-4.7.3-1]
  "+",
  "#",
  "a/+/b",
  "a/#",
  "a+",
  "a#b",
  "a\u0000b", // [MQTT-4.7.3-2]
  "x".repeat(65_536), // [MQTT-4.7.3-3]
  "€".repeat(21_846), // 65,538 bytes of UTF-8
];

Deno.test("validateTopicName() accepts valid topic names", () => {
  for (const name of VALID_NAMES) {
    validateTopicName(name);
    assert(isValidTopicName(name), name.slice(0, 20));
  }
});

Deno.test("validateTopicName() rejects invalid topic names with TopicNameInvalid", () => {
  for (const name of INVALID_NAMES) {
    assertCodecError(() => validateTopicName(name), 0x90, JSON.stringify(name.slice(0, 20)));
    assert(!isValidTopicName(name), name.slice(0, 20));
  }
});

const VALID_FILTERS = [
  "a",
  "#",
  "+",
  "/",
  "+/+",
  "/+",
  "a/#",
  "a/+/c",
  "+/tennis/#",
  "sport/tennis/+",
  "a//b",
  "$SYS/#",
  "€/+",
  "$share/group/a/b",
  "$share/g/#",
  "$share/g/+/x",
  "$share/g//",
  "$shared/x", // not the shared prefix: an ordinary filter
  "$share", // an ordinary topic filter too
];
const INVALID_FILTERS = [
  "", // [MQTT-4.7.3-1]
  "a#", // [MQTT-4.7.1-1]
  "a/#/b",
  "#/a",
  "a/b#",
  "a+", // [MQTT-4.7.1-2]
  "+a",
  "a/+b/c",
  "sport+",
  "a\u0000", // [MQTT-4.7.3-2]
  "$share/", // [MQTT-4.8.2-1]
  "$share/g", // no filter [MQTT-4.8.2-2]
  "$share/g/", // empty filter
  "$share//a", // empty ShareName
  "$share/g+/a", // wildcard in ShareName [MQTT-4.8.2-2]
  "$share/#/a",
  "$share/g/a#",
  "x".repeat(65_536),
];

Deno.test("validateTopicFilter() accepts valid topic filters", () => {
  for (const filter of VALID_FILTERS) {
    validateTopicFilter(filter);
    assert(isValidTopicFilter(filter), filter);
  }
});

Deno.test("validateTopicFilter() rejects invalid topic filters with TopicFilterInvalid", () => {
  for (const filter of INVALID_FILTERS) {
    assertCodecError(() => validateTopicFilter(filter), 0x8f, JSON.stringify(filter.slice(0, 20)));
    assert(!isValidTopicFilter(filter), filter.slice(0, 20));
  }
});

Deno.test("validateTopicFilter() names the filter and the rule in its message", () => {
  try {
    validateTopicFilter("a/#/b");
    assert.fail("expected a CodecError");
  } catch (error) {
    assert(error instanceof CodecError);
    assert(error.message.includes('"a/#/b"'), error.message);
    assert(error.message.includes("MQTT-4.7.1-1"), error.message);
  }
});

Deno.test("parseSharedSubscription() splits $share/{ShareName}/{filter}", () => {
  deepStrictEqual(parseSharedSubscription("$share/g/a/+"), { group: "g", filter: "a/+" });
  deepStrictEqual(parseSharedSubscription("$share/group1/#"), { group: "group1", filter: "#" });
  deepStrictEqual(parseSharedSubscription("$share/g//"), { group: "g", filter: "/" });
  deepStrictEqual(parseSharedSubscription("$share/g/$SYS/x"), { group: "g", filter: "$SYS/x" });
});

Deno.test("parseSharedSubscription() returns undefined for ordinary and malformed filters", () => {
  for (
    const filter of [
      "a/+",
      "#",
      "$share",
      "$SHARE/g/a",
      "$shared/g/a",
      "$share/",
      "$share/g",
      "$share/g/",
      "$share//a",
      "$share/g+/a",
    ]
  ) {
    deepStrictEqual(parseSharedSubscription(filter), undefined, filter);
  }
});
