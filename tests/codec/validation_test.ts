/**
 * One test per rejection rule of the decoder (and the encoder's refusals), each proving the
 * reason code. Spec clause ids refer to MQTT 5.0 unless marked 3.1.1.
 */

import assert, { deepStrictEqual } from "node:assert/strict";
import {
  CodecError,
  decodePacket,
  encodePacket,
  encodePublish,
  type Frame,
  type Packet,
  type ProtocolVersion,
  setPublishDup,
} from "../../codec/mod.ts";

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const UNSUPPORTED_PROTOCOL_VERSION = 0x84;
const TOPIC_NAME_INVALID = 0x90;
const TOPIC_ALIAS_INVALID = 0x94;

/** A frame from `header` and the body bytes (the Remaining Length is implied by the body). */
function frame(header: number, body: number[]): Frame {
  return { header, body: Uint8Array.from(body) };
}

function expectError(fn: () => unknown, reasonCode: number, includes?: string): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof CodecError, `expected a CodecError, got ${caught}`);
  deepStrictEqual(
    caught.reasonCode,
    reasonCode,
    `reason code 0x${caught.reasonCode.toString(16)}: ${caught.message}`,
  );
  assert(caught.message.startsWith("Cannot "), caught.message);
  if (includes !== undefined) assert(caught.message.includes(includes), caught.message);
  return caught;
}

function rejects(
  header: number,
  body: number[],
  version: ProtocolVersion,
  reasonCode: number,
  includes?: string,
): CodecError {
  return expectError(() => decodePacket(frame(header, body), version), reasonCode, includes);
}

const str = (s: string) => {
  const bytes = new TextEncoder().encode(s);
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
};

/** CONNECT body: protocol name, level, flags, keep alive 60, then `rest`. */
const connectBody = (name: string, level: number, flags: number, rest: number[]) => [
  ...str(name),
  level,
  flags,
  0x00,
  0x3c,
  ...rest,
];

// ------------------------------------------------------------------ fixed header

Deno.test("decodePacket() rejects reserved fixed header flags with MalformedPacket [MQTT-2.1.3-1]", () => {
  // Every type except PUBLISH, with each wrong flag value.
  const required: Record<number, number> = {
    1: 0,
    2: 0,
    4: 0,
    5: 0,
    6: 2,
    7: 0,
    8: 2,
    9: 0,
    10: 2,
    11: 0,
    12: 0,
    13: 0,
    14: 0,
    15: 0,
  };
  for (const [type, flags] of Object.entries(required)) {
    for (let wrong = 0; wrong < 16; wrong++) {
      if (wrong === flags) continue;
      rejects((Number(type) << 4) | wrong, [0x00, 0x01], 5, MALFORMED, "fixed header flags");
    }
  }
});

Deno.test("decodePacket() rejects PUBREL, SUBSCRIBE and UNSUBSCRIBE with flags 0000", () => {
  rejects(0x60, [0x00, 0x01], 4, MALFORMED, "[MQTT-3.6.1-1]");
  rejects(0x80, [0x00, 0x01, ...str("a"), 0x00], 4, MALFORMED, "[MQTT-3.8.1-1]");
  rejects(0xa0, [0x00, 0x01, ...str("a")], 4, MALFORMED, "[MQTT-3.10.1-1]");
});

Deno.test("decodePacket() rejects the reserved packet type 0 with MalformedPacket", () => {
  rejects(0x00, [], 4, MALFORMED, "reserved");
});

Deno.test("decodePacket() rejects AUTH below MQTT 5 with MalformedPacket", () => {
  rejects(0xf0, [], 4, MALFORMED, "only in MQTT 5");
  rejects(0xf0, [], 3, MALFORMED);
});

// ------------------------------------------------------------------ PUBLISH

Deno.test("decodePublish() rejects QoS 3 with MalformedPacket [MQTT-3.3.1-4]", () => {
  rejects(0x36, [...str("t"), 0x00, 0x01], 4, MALFORMED, "QoS 3");
});

Deno.test("decodePublish() rejects DUP on a QoS 0 message with MalformedPacket [MQTT-3.3.1-2]", () => {
  rejects(0x38, [...str("t")], 4, MALFORMED, "[MQTT-3.3.1-2]");
});

Deno.test("decodePacket() rejects packet identifier 0 with ProtocolError [MQTT-2.2.1-3]", () => {
  // Mosquitto answers identifier 0 with a protocol error; midge does the same.
  rejects(0x32, [...str("t"), 0x00, 0x00], 4, PROTOCOL_ERROR, "[MQTT-2.2.1-3]");
  rejects(0x40, [0x00, 0x00], 4, PROTOCOL_ERROR, "[MQTT-2.2.1-3]");
  rejects(0x50, [0x00, 0x00], 5, PROTOCOL_ERROR);
  rejects(0x62, [0x00, 0x00], 4, PROTOCOL_ERROR);
  rejects(0x70, [0x00, 0x00], 5, PROTOCOL_ERROR);
  rejects(0x82, [0x00, 0x00, ...str("a"), 0x00], 4, PROTOCOL_ERROR);
  rejects(0xa2, [0x00, 0x00, ...str("a")], 4, PROTOCOL_ERROR);
  rejects(0x90, [0x00, 0x00, 0x00], 4, PROTOCOL_ERROR);
  rejects(0xb0, [0x00, 0x00], 4, PROTOCOL_ERROR);
});

Deno.test("decodePublish() rejects a topic name with wildcards with TopicNameInvalid [MQTT-3.3.2-2]", () => {
  rejects(0x30, [...str("a/+")], 4, TOPIC_NAME_INVALID, "wildcard");
  rejects(0x30, [...str("a/#"), 0x00], 5, TOPIC_NAME_INVALID, "wildcard");
  rejects(0x30, [...str("#"), 0x00], 5, TOPIC_NAME_INVALID);
});

Deno.test("decodePublish() rejects an empty topic name with TopicNameInvalid [MQTT-4.7.3-1]", () => {
  rejects(0x30, [0x00, 0x00, 0x41], 4, TOPIC_NAME_INVALID, "empty");
  rejects(0x30, [0x00, 0x00, 0x41], 3, TOPIC_NAME_INVALID);
  // MQTT 5 without a topic alias (3.3.2.1).
  rejects(0x30, [0x00, 0x00, 0x00, 0x41], 5, TOPIC_NAME_INVALID, "topic alias");
});

Deno.test("decodePublish() accepts an empty topic name with a topic alias in MQTT 5", () => {
  deepStrictEqual(decodePacket(frame(0x30, [0x00, 0x00, 0x03, 0x23, 0x00, 0x01]), 5), {
    type: "publish",
    topic: "",
    payload: new Uint8Array(0),
    qos: 0,
    retain: false,
    dup: false,
    properties: { topicAlias: 1 },
  });
});

Deno.test("decodePublish() rejects topic alias 0 with TopicAliasInvalid [MQTT-3.3.2-8]", () => {
  rejects(0x30, [...str("t"), 0x03, 0x23, 0x00, 0x00], 5, TOPIC_ALIAS_INVALID, "[MQTT-3.3.2-8]");
});

Deno.test("decodePublish() rejects a truncated topic or packet identifier with MalformedPacket", () => {
  rejects(0x30, [0x00], 4, MALFORMED, "topic length");
  rejects(0x30, [0x00, 0x09, 0x61, 0x62, 0x63, 0x64], 4, MALFORMED, "length 9 exceeds remaining 4");
  rejects(0x32, [...str("t"), 0x00], 4, MALFORMED, "packet identifier");
  rejects(0x30, [...str("t")], 5, MALFORMED, "properties length");
});

// ------------------------------------------------------------------ UTF-8

const BAD_UTF8: [string, number[]][] = [
  ["a stray continuation byte", [0x80]],
  ["the byte 0xFF", [0xff]],
  ["an overlong encoding of '/'", [0xc0, 0xaf]],
  ["an encoded surrogate U+D800", [0xed, 0xa0, 0x80]],
  ["a truncated 3-byte sequence", [0x61, 0xe2, 0x82]],
  ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
];

Deno.test("decodePacket() rejects ill-formed UTF-8 with MalformedPacket [MQTT-1.5.4-1]", () => {
  for (const [, bytes] of BAD_UTF8) {
    const s = [0x00, bytes.length, ...bytes];
    rejects(0x30, s, 4, MALFORMED, "[MQTT-1.5.4-1]"); // topic
    rejects(0x10, connectBody("MQTT", 4, 0x02, s), 4, MALFORMED, "[MQTT-1.5.4-1]"); // client id
    rejects(0x82, [0x00, 0x01, ...s, 0x00], 4, MALFORMED); // topic filter
    // User property value.
    rejects(0x40, [0x00, 0x01, 0x00, 4 + s.length, 0x26, ...str("k"), ...s], 5, MALFORMED);
  }
});

Deno.test("decodePacket() rejects U+0000 in a string with MalformedPacket [MQTT-1.5.4-2]", () => {
  rejects(0x30, [0x00, 0x03, 0x61, 0x00, 0x62], 4, MALFORMED, "U+0000");
  rejects(0x30, [0x00, 0x04, 0xc3, 0xa9, 0x00, 0x62], 4, MALFORMED, "U+0000"); // non-ASCII path
  rejects(0x10, connectBody("MQTT", 4, 0x02, [0x00, 0x01, 0x00]), 4, MALFORMED, "U+0000");
});

Deno.test("decodePacket() keeps a leading U+FEFF in a string [MQTT-1.5.4-3]", () => {
  const packet = decodePacket(frame(0x30, [0x00, 0x04, 0xef, 0xbb, 0xbf, 0x61]), 4);
  deepStrictEqual(packet.type === "publish" && packet.topic, "\ufeffa");
});

// ------------------------------------------------------------------ SUBSCRIBE / UNSUBSCRIBE

Deno.test("decodeSubscribe() leaves invalid topic filters to the broker (SUBACK 0x8F per filter)", () => {
  const packet = decodePacket(frame(0x82, [0x00, 0x01, ...str("a/#/b"), 0x01]), 4);
  deepStrictEqual(packet.type === "subscribe" && packet.subscriptions[0]?.topicFilter, "a/#/b");
});

Deno.test("decodeSubscribe() rejects an empty payload with ProtocolError [MQTT-3.8.3-2]", () => {
  rejects(0x82, [0x00, 0x01], 4, PROTOCOL_ERROR, "[MQTT-3.8.3-2]");
  rejects(0x82, [0x00, 0x01, 0x00], 5, PROTOCOL_ERROR, "[MQTT-3.8.3-2]");
});

Deno.test("decodeUnsubscribe() rejects an empty payload with ProtocolError [MQTT-3.10.3-2]", () => {
  rejects(0xa2, [0x00, 0x01], 4, PROTOCOL_ERROR, "[MQTT-3.10.3-2]");
  rejects(0xa2, [0x00, 0x01, 0x00], 5, PROTOCOL_ERROR, "[MQTT-3.10.3-2]");
});

Deno.test("decodeSubscribe() rejects reserved option bits or QoS 3 below MQTT 5 with MalformedPacket [MQTT-3.8.3-4]", () => {
  for (const options of [0x03, 0x04, 0x80, 0x41]) {
    rejects(0x82, [0x00, 0x01, ...str("a"), options], 4, MALFORMED, "[MQTT-3.8.3-4]");
  }
});

Deno.test("decodeSubscribe() rejects reserved subscription option bits in MQTT 5 with MalformedPacket [MQTT-3.8.3-5]", () => {
  rejects(0x82, [0x00, 0x01, 0x00, ...str("a"), 0x40], 5, MALFORMED, "[MQTT-3.8.3-5]");
  rejects(0x82, [0x00, 0x01, 0x00, ...str("a"), 0x81], 5, MALFORMED, "[MQTT-3.8.3-5]");
});

Deno.test("decodeSubscribe() rejects maximum QoS 3 in MQTT 5 with ProtocolError (3.8.3.1)", () => {
  rejects(0x82, [0x00, 0x01, 0x00, ...str("a"), 0x03], 5, PROTOCOL_ERROR, "QoS 3");
});

Deno.test("decodeSubscribe() rejects retain handling 3 with ProtocolError (3.8.3.1)", () => {
  rejects(0x82, [0x00, 0x01, 0x00, ...str("a"), 0x30], 5, PROTOCOL_ERROR, "retain handling 3");
});

Deno.test("decodeSubscribe() rejects No Local on a shared subscription with ProtocolError [MQTT-3.8.3-4]", () => {
  rejects(0x82, [0x00, 0x01, 0x00, ...str("$share/g/a"), 0x04], 5, PROTOCOL_ERROR, "No Local");
});

// ------------------------------------------------------------------ CONNECT

Deno.test("decodeConnect() rejects a protocol name that does not match the level with UnsupportedProtocolVersion", () => {
  const e1 = rejects(0x10, connectBody("MQTT", 3, 0x02, str("c")), 4, UNSUPPORTED_PROTOCOL_VERSION);
  deepStrictEqual(e1.protocolVersion, 4);
  const e2 = rejects(
    0x10,
    connectBody("MQIsdp", 4, 0x02, str("c")),
    4,
    UNSUPPORTED_PROTOCOL_VERSION,
  );
  deepStrictEqual(e2.protocolVersion, 3);
});

Deno.test("decodeConnect() rejects an unknown protocol level with UnsupportedProtocolVersion [MQTT-3.1.2-2]", () => {
  // 0x84 is Mosquitto's bridge bit on level 4, accepted (tests/bridge/bridge_client_test.ts).
  for (const level of [0, 1, 2, 6, 0x86, 255]) {
    const error = rejects(
      0x10,
      connectBody("MQTT", level, 0x02, str("c")),
      5,
      UNSUPPORTED_PROTOCOL_VERSION,
      `level ${level}`,
    );
    // Answered with a 3.1.1-format CONNACK, return code 1.
    deepStrictEqual(error.protocolVersion, 4);
  }
});

Deno.test("decodeConnect() rejects an unknown protocol name with ProtocolError and no CONNACK format [MQTT-3.1.2-1]", () => {
  const error = rejects(0x10, connectBody("MQTX", 4, 0x02, str("c")), 4, PROTOCOL_ERROR, '"MQTX"');
  deepStrictEqual(error.protocolVersion, undefined);
});

Deno.test("decodeConnect() rejects reserved flag bit 0 with MalformedPacket and reports the level [MQTT-3.1.2-3]", () => {
  for (const [name, level] of [["MQIsdp", 3], ["MQTT", 4], ["MQTT", 5]] as const) {
    const props = level === 5 ? [0x00] : [];
    const error = rejects(
      0x10,
      connectBody(name, level, 0x03, [...props, ...str("c")]),
      4,
      MALFORMED,
      "[MQTT-3.1.2-3]",
    );
    deepStrictEqual(error.protocolVersion, level);
  }
});

Deno.test("decodeConnect() rejects will QoS without the will flag with MalformedPacket [MQTT-3.1.2-11]", () => {
  rejects(0x10, connectBody("MQTT", 4, 0x0a, str("c")), 4, MALFORMED, "[MQTT-3.1.2-11]");
  rejects(0x10, connectBody("MQTT", 4, 0x12, str("c")), 4, MALFORMED, "[MQTT-3.1.2-11]");
});

Deno.test("decodeConnect() rejects will retain without the will flag with MalformedPacket [MQTT-3.1.2-13]", () => {
  rejects(0x10, connectBody("MQTT", 4, 0x22, str("c")), 4, MALFORMED, "[MQTT-3.1.2-13]");
});

Deno.test("decodeConnect() rejects will QoS 3 with MalformedPacket [MQTT-3.1.2-12]", () => {
  rejects(
    0x10,
    connectBody("MQTT", 4, 0x1e, [...str("c"), ...str("w"), ...str("x")]),
    4,
    MALFORMED,
    "[MQTT-3.1.2-12]",
  );
});

Deno.test("decodeConnect() rejects a password without a user name below MQTT 5 with MalformedPacket [MQTT-3.1.2-22]", () => {
  rejects(
    0x10,
    connectBody("MQTT", 4, 0x42, [...str("c"), ...str("p")]),
    4,
    MALFORMED,
    "[MQTT-3.1.2-22]",
  );
  rejects(
    0x10,
    connectBody("MQIsdp", 3, 0x42, [...str("c"), ...str("p")]),
    3,
    MALFORMED,
    "[MQTT-3.1.2-22]",
  );
});

Deno.test("decodeConnect() accepts a password without a user name in MQTT 5 (3.1.2.9)", () => {
  const packet = decodePacket(
    frame(0x10, connectBody("MQTT", 5, 0x42, [0x00, ...str("c"), ...str("p")])),
    5,
  );
  deepStrictEqual(packet.type === "connect" && packet.username, undefined);
  deepStrictEqual(packet.type === "connect" && packet.password, new TextEncoder().encode("p"));
});

Deno.test("decodeConnect() rejects an invalid will topic with TopicNameInvalid", () => {
  rejects(
    0x10,
    connectBody("MQTT", 4, 0x06, [...str("c"), ...str("w/#"), ...str("x")]),
    4,
    TOPIC_NAME_INVALID,
  );
});

Deno.test("decodeConnect() rejects will properties a will may not carry with MalformedPacket", () => {
  // Session expiry interval (0x11) belongs to CONNECT, not to the will (3.1.3.2).
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x06, [
      0x00,
      ...str("c"),
      0x05,
      0x11,
      0,
      0,
      0,
      1,
      ...str("w"),
      ...str("x"),
    ]),
    5,
    MALFORMED,
    "will properties",
  );
});

// ------------------------------------------------------------------ trailing and truncated bytes

Deno.test("decodePacket() rejects bytes after the last field with MalformedPacket", () => {
  rejects(0x40, [0x00, 0x01, 0x00], 4, MALFORMED, "unexpected bytes"); // PUBACK 3.1.1
  rejects(0x10, connectBody("MQTT", 4, 0x02, [...str("c"), 0x00]), 4, MALFORMED, "unexpected");
  rejects(0x20, [0x00, 0x00, 0x00], 4, MALFORMED, "unexpected"); // CONNACK 3.1.1
  rejects(0x20, [0x00, 0x00, 0x00, 0x00], 5, MALFORMED, "unexpected"); // CONNACK 5.0
  rejects(0xb0, [0x00, 0x01, 0x00], 4, MALFORMED, "unexpected"); // UNSUBACK 3.1.1
  rejects(0xe0, [0x00], 4, MALFORMED, "unexpected"); // DISCONNECT 3.1.1
  rejects(0x40, [0x00, 0x01, 0x00, 0x00, 0x00], 5, MALFORMED, "unexpected"); // PUBACK 5.0
});

Deno.test("decodePacket() rejects a non-zero remaining length on PINGREQ and PINGRESP with MalformedPacket", () => {
  rejects(0xc0, [0x00], 4, MALFORMED, "PINGREQ");
  rejects(0xd0, [0x00], 5, MALFORMED, "PINGRESP");
});

Deno.test("decodePacket() rejects every truncation of packets with fixed-length fields with MalformedPacket", () => {
  const packets: [Packet, ProtocolVersion][] = [
    [{
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 5,
      clean: true,
      keepalive: 10,
      clientId: "c",
      username: "u",
      password: new Uint8Array([1]),
      will: {
        topic: "w",
        payload: new Uint8Array([2]),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
      properties: { sessionExpiryInterval: 5, userProperties: [["k", "v"]] },
    }, 5],
    [{
      type: "connect",
      protocolName: "MQIsdp",
      protocolVersion: 3,
      clean: false,
      keepalive: 1,
      clientId: "abc",
      username: "u",
    }, 3],
    [{
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { assignedClientIdentifier: "id" },
    }, 5],
    [{ type: "pubrec", packetId: 1, reasonCode: 0x80, properties: { reasonString: "r" } }, 5],
    [{ type: "disconnect", reasonCode: 0x8b, properties: { reasonString: "r" } }, 5],
    [{ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "m" } }, 5],
  ];
  for (const [packet, version] of packets) {
    const bytes = encodePacket(packet, version);
    const headerSize = 2; // these fixtures all have a one-byte remaining length
    const body = Array.from(bytes.subarray(headerSize));
    // Shorter forms that are legal (empty DISCONNECT/AUTH body, reason code alone) are skipped.
    const legalLengths = packet.type === "disconnect" || packet.type === "auth"
      ? [0, 1]
      : packet.type === "pubrec"
      ? [2, 3]
      : [];
    for (let cut = 0; cut < body.length; cut++) {
      if (legalLengths.includes(cut)) continue;
      rejects(bytes[0]!, body.slice(0, cut), version, MALFORMED);
    }
  }
});

// ------------------------------------------------------------------ properties

Deno.test("decodeProperties() rejects a duplicate property with ProtocolError", () => {
  // Two content types in a PUBLISH.
  rejects(
    0x30,
    [...str("t"), 0x08, 0x03, ...str("a"), 0x03, ...str("b")],
    5,
    PROTOCOL_ERROR,
    "more than once",
  );
  // Two session expiry intervals in a CONNECT.
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x0a, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, ...str("c")]),
    5,
    PROTOCOL_ERROR,
    "more than once",
  );
});

Deno.test("decodeProperties() allows repeated user properties and keeps their order", () => {
  const packet = decodePacket(
    frame(0x40, [
      0x00,
      0x01,
      0x00,
      0x0e,
      0x26,
      ...str("k"),
      ...str("2"),
      0x26,
      ...str("k"),
      ...str("1"),
    ]),
    5,
  );
  deepStrictEqual(packet.type === "puback" && packet.properties?.userProperties, [["k", "2"], [
    "k",
    "1",
  ]]);
});

Deno.test("decodeProperties() allows repeated subscription identifiers only in PUBLISH [MQTT-3.3.4-4]", () => {
  const publish = decodePacket(frame(0x30, [...str("t"), 0x04, 0x0b, 0x01, 0x0b, 0x02]), 5);
  deepStrictEqual(publish.type === "publish" && publish.properties?.subscriptionIdentifiers, [
    1,
    2,
  ]);
  rejects(
    0x82,
    [0x00, 0x01, 0x04, 0x0b, 0x01, 0x0b, 0x02, ...str("a"), 0x00],
    5,
    PROTOCOL_ERROR,
    "more than once",
  );
});

Deno.test("decodeProperties() rejects receive maximum 0 with ProtocolError", () => {
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x03, 0x21, 0x00, 0x00, ...str("c")]),
    5,
    PROTOCOL_ERROR,
    "receiveMaximum",
  );
  rejects(0x20, [0x00, 0x00, 0x03, 0x21, 0x00, 0x00], 5, PROTOCOL_ERROR, "receiveMaximum");
});

Deno.test("decodeProperties() rejects maximum packet size 0 with ProtocolError", () => {
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x05, 0x27, 0, 0, 0, 0, ...str("c")]),
    5,
    PROTOCOL_ERROR,
    "maximumPacketSize",
  );
});

Deno.test("decodeProperties() rejects subscription identifier 0 with ProtocolError", () => {
  rejects(
    0x82,
    [0x00, 0x01, 0x02, 0x0b, 0x00, ...str("a"), 0x00],
    5,
    PROTOCOL_ERROR,
    "subscriptionIdentifier",
  );
  rejects(0x30, [...str("t"), 0x02, 0x0b, 0x00], 5, PROTOCOL_ERROR, "subscriptionIdentifier");
});

Deno.test("decodeProperties() rejects a byte flag other than 0 or 1 with ProtocolError", () => {
  rejects(0x30, [...str("t"), 0x02, 0x01, 0x07], 5, PROTOCOL_ERROR, "payloadFormatIndicator");
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x02, 0x17, 0x02, ...str("c")]),
    5,
    PROTOCOL_ERROR,
    "requestProblemInformation",
  );
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x02, 0x19, 0x02, ...str("c")]),
    5,
    PROTOCOL_ERROR,
    "requestResponseInformation",
  );
  for (const id of [0x24, 0x25, 0x28, 0x29, 0x2a]) {
    rejects(0x20, [0x00, 0x00, 0x02, id, 0x02], 5, PROTOCOL_ERROR, "must be 0 or 1");
  }
});

Deno.test("decodeProperties() rejects a response topic with wildcards with ProtocolError [MQTT-3.3.2-14]", () => {
  rejects(0x30, [...str("t"), 0x04, 0x08, ...str("+")], 5, PROTOCOL_ERROR, "[MQTT-3.3.2-14]");
});

Deno.test("decodeProperties() rejects a property the packet may not carry with MalformedPacket (2.2.2.2)", () => {
  // Topic alias in a PUBACK, receive maximum in a PUBLISH, will delay interval in CONNECT.
  rejects(0x40, [0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01], 5, MALFORMED, "not allowed");
  rejects(0x30, [...str("t"), 0x03, 0x21, 0x00, 0x01], 5, MALFORMED, "not allowed");
  rejects(
    0x10,
    connectBody("MQTT", 5, 0x02, [0x05, 0x18, 0, 0, 0, 1, ...str("c")]),
    5,
    MALFORMED,
    "not allowed",
  );
});

Deno.test("decodeProperties() rejects an unknown property identifier with MalformedPacket", () => {
  rejects(0x30, [...str("t"), 0x02, 0x04, 0x00], 5, MALFORMED, "unknown property identifier 0x4");
});

Deno.test("decodeProperties() rejects a property length beyond the packet with MalformedPacket", () => {
  rejects(0x30, [...str("t"), 0x09, 0x01, 0x01], 5, MALFORMED, "length 9 exceeds remaining 2");
  // A string inside the properties that runs past the property length.
  rejects(
    0x30,
    [...str("t"), 0x03, 0x03, 0x00, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65],
    5,
    MALFORMED,
    "exceeds remaining",
  );
});

// ------------------------------------------------------------------ reason codes

Deno.test("decodePacket() rejects a reason code the packet may not carry with ProtocolError", () => {
  rejects(0x40, [0x00, 0x01, 0x92], 5, PROTOCOL_ERROR, "0x92"); // PUBACK: packet id not found
  rejects(0x62, [0x00, 0x01, 0x10], 5, PROTOCOL_ERROR, "0x10"); // PUBREL: no matching subscribers
  rejects(0xe0, [0x18], 5, PROTOCOL_ERROR, "0x18"); // DISCONNECT: continue authentication
  rejects(0xf0, [0x04, 0x00], 5, PROTOCOL_ERROR, "0x4"); // AUTH
  rejects(0x90, [0x00, 0x01, 0x00, 0x03], 5, PROTOCOL_ERROR); // SUBACK 5.0: 0x03
  rejects(0x90, [0x00, 0x01, 0x87], 4, PROTOCOL_ERROR); // SUBACK 3.1.1: only 0, 1, 2, 0x80
  rejects(0xb0, [0x00, 0x01, 0x00, 0x10], 5, PROTOCOL_ERROR); // UNSUBACK
  rejects(0x20, [0x00, 0x06], 4, PROTOCOL_ERROR); // CONNACK 3.1.1 return code 6
  rejects(0x20, [0x00, 0x10, 0x00], 5, PROTOCOL_ERROR); // CONNACK 5.0
});

Deno.test("decodeConnack() rejects reserved acknowledge flags with MalformedPacket [MQTT-3.2.2-1]", () => {
  rejects(0x20, [0x02, 0x00], 4, MALFORMED, "[MQTT-3.2.2-1]");
});

Deno.test("decodeConnack() rejects session present with an error code with ProtocolError [MQTT-3.2.2-6]", () => {
  rejects(0x20, [0x01, 0x05], 4, PROTOCOL_ERROR, "[MQTT-3.2.2-6]");
});

// ------------------------------------------------------------------ encoder refusals

Deno.test("encodePacket() refuses packets the decoder would reject", () => {
  const publish = {
    type: "publish",
    topic: "t",
    payload: new Uint8Array(0),
    retain: false,
  } as const;
  expectError(() => encodePublish({ ...publish, qos: 3 as 0, dup: false }, 4), MALFORMED, "QoS 3");
  expectError(
    () => encodePublish({ ...publish, qos: 0, dup: true }, 4),
    MALFORMED,
    "[MQTT-3.3.1-2]",
  );
  expectError(
    () => encodePublish({ ...publish, qos: 1, dup: false }, 4),
    PROTOCOL_ERROR,
    "packet identifier",
  );
  expectError(
    () => encodePublish({ ...publish, qos: 1, dup: false, packetId: 0 }, 4),
    PROTOCOL_ERROR,
  );
  expectError(
    () => encodePublish({ ...publish, topic: "a\u0000", qos: 0, dup: false }, 4),
    MALFORMED,
    "U+0000",
  );
  expectError(
    () => encodePublish({ ...publish, topic: "\ud800", qos: 0, dup: false }, 4),
    MALFORMED,
    "surrogate",
  );
  expectError(() => encodePacket({ type: "puback", packetId: 70000 }, 4), PROTOCOL_ERROR);
  expectError(
    () => encodePacket({ type: "pubrel", packetId: 1, reasonCode: 0x10 }, 5),
    PROTOCOL_ERROR,
  );
  expectError(
    () => encodePacket({ type: "subscribe", packetId: 1, subscriptions: [] }, 4),
    PROTOCOL_ERROR,
  );
  expectError(
    () => encodePacket({ type: "unsubscribe", packetId: 1, topicFilters: [] }, 4),
    PROTOCOL_ERROR,
  );
  expectError(() => encodePacket({ type: "auth", reasonCode: 0 }, 4), MALFORMED);
  expectError(
    () =>
      encodePacket({
        type: "connect",
        protocolName: "MQTT",
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: "c",
        password: new Uint8Array(1),
      }, 4),
    MALFORMED,
    "[MQTT-3.1.2-22]",
  );
  expectError(
    () => encodePacket({ type: "puback", packetId: 1, properties: { topicAlias: 1 } }, 5),
    MALFORMED,
    "not allowed",
  );
});

Deno.test("setPublishDup() refuses to set DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]", () => {
  const bytes = encodePublish({
    type: "publish",
    topic: "t",
    payload: new Uint8Array(0),
    qos: 0,
    retain: false,
    dup: false,
  }, 4);
  expectError(() => setPublishDup(bytes, true), MALFORMED, "QoS 0");
});
